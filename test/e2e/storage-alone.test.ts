import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { inviteOf, launchBrowser, nodeIds, openNode, startServer, waitUntil } from './fixtures.ts';
import { makeTestFile, readDigest } from './storage-pages.ts';

describe('a file put with too few peers', () => {
  let server: WosServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('waits on the uploader’s store as under-replicated, and spreads out by itself when peers come; the Files view downloads it with progress', async () => {
    const a = await openNode(await browser.newContext(), server.url);
    const size = 5 * 1024 * 1024 + 3;
    const digest = await makeTestFile(a, size, 'ALONE-MARKER');
    const alone = await a.evaluate(async () => {
      const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
      const ref = await window.wos.files.put('alone.bin', new Blob([data]));
      return { id: ref.id, health: await window.wos.files.health(ref.id) };
    });
    // Three replicas (k = 1, n = 3), all on this tab's store for now.
    expect(alone.health).toMatchObject({ state: 'at-risk', k: 1, n: 3, stores: 1 });
    expect(alone.health.crowded).toBeGreaterThan(0);
    expect(await readDigest(a, alone.id)).toEqual({ size, digest });

    const invite = await inviteOf(a);
    const peers = await Promise.all(
      [1, 2, 3].map(async () => openNode(await browser.newContext(), invite)),
    );
    await waitUntil('4 nodes', async () => (await nodeIds(a)).length === 4, 10_000);
    // No explicit repair: the owner's tab repairs soon after peers join.
    await waitUntil(
      'the file to become healthy',
      async () =>
        (await a.evaluate((id) => window.wos.files.health(id), alone.id)).state === 'healthy',
      30_000,
      500,
    );
    const spread = await a.evaluate((id) => window.wos.files.health(id), alone.id);
    expect(spread.crowded).toBe(0);
    // Each stripe on 3 distinct stores now, so at least two of them are peers'.
    expect(spread.stores).toBeGreaterThanOrEqual(3);
    expect(peers).toHaveLength(3);

    // The Files view downloads it with progress, byte-identical.
    await a.getByRole('tab', { name: 'Files' }).click();
    const row = a.getByRole('row', { name: /alone\.bin/ });
    // Records the progress bar's values (a fast read may show and drop it within one poll).
    await a.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { __progress: number[] }).__progress = seen;
      new MutationObserver(() => {
        const bar = document.querySelector<HTMLProgressElement>(
          'progress[aria-label="Downloading alone.bin"]',
        );
        if (bar) seen.push(bar.value);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    const downloaded = a.waitForEvent('download');
    await row.getByRole('button', { name: 'Download alone.bin' }).click();
    const download = await downloaded;
    const progress = await a.evaluate(
      () => (window as unknown as { __progress: number[] }).__progress,
    );
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBeGreaterThan(0);
    expect(download.suggestedFilename()).toBe('alone.bin');
    const saved = await readFile((await download.path())!);
    expect(saved.length).toBe(size);
    expect(createHash('sha256').update(saved).digest('hex')).toBe(digest);
    await a
      .getByRole('progressbar', { name: 'Downloading alone.bin' })
      .waitFor({ state: 'detached' });
  });
});
