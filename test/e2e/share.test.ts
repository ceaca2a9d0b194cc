import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWosServer, type WosServer } from '../../signaling-server/server.ts';
import { DIST, inviteOf, launchBrowser, nodeIds, openNode, waitUntil } from './fixtures.ts';
import { reissueShareLink } from '../support/share-link-forge.ts';
import { makeTestFile } from './storage-pages.ts';

/**
 * Sharing a file by link in real Chromium: the owner's tab makes the link in the Files view;
 * fresh profiles with no account open it and download byte-identical data with progress; a
 * download limit, a revocation, an expiry, a tampered link and a link naming another owner each
 * give their clear error; the server's request log never sees the link's code.
 */
describe('share links', () => {
  let server: WosServer;
  let browser: Browser;
  const log: string[] = [];

  beforeAll(async () => {
    server = await createWosServer({
      port: 0,
      host: '127.0.0.1',
      staticDir: DIST,
      log: (line) => log.push(line),
      rateLimit: {
        api: { ratePerSec: 500, burst: 2000 },
        wsConnect: { ratePerSec: 200, burst: 500 },
      },
      accounts: { db: ':memory:', rate: { ratePerSec: 200, burst: 500 } },
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh profile opens the link; resolves with the guest page's end state. */
  async function openLink(link: string) {
    const page = await (await browser.newContext()).newPage();
    page.on('pageerror', (e) => console.error(`[guest page error] ${e.message}`));
    await page.goto(link);
    await page.waitForFunction(
      () => window.__wosShare?.state === 'done' || window.__wosShare?.state === 'failed',
      undefined,
      { timeout: 60_000 },
    );
    const out = await page.evaluate(async () => {
      const s = window.__wosShare!;
      let digest = '';
      let size = 0;
      if (s.blob) {
        const bytes = new Uint8Array(await s.blob.arrayBuffer());
        size = bytes.length;
        const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        digest = Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
      }
      return {
        state: s.state,
        name: s.name,
        error: s.error,
        progress: s.progress,
        ownerChecked: s.ownerChecked,
        size,
        digest,
      };
    });
    const oldLinkNotice = await page.getByTestId('share-old-link').isVisible();
    const shown = await page.getByTestId('share-guest').getAttribute('data-state');
    const code = await page
      .getByTestId('share-error')
      .getAttribute('data-code', { timeout: 100 })
      .catch(() => undefined);
    await page.context().close();
    return { ...out, shown, code, oldLinkNotice };
  }

  async function shareOf(page: Page, id: string, opts: { expiresAt?: number }): Promise<string> {
    return page.evaluate(({ id, opts }) => window.wos.files.share(id, opts), { id, opts });
  }

  it('a fresh profile reads byte-identical; limit, revoked, expired, tampered and wrong-owner links fail clearly', async () => {
    const owner = await openNode(await browser.newContext(), server.url);
    const peer = await openNode(await browser.newContext(), await inviteOf(owner));
    await waitUntil('2 nodes', async () => (await nodeIds(owner)).length === 2, 10_000);
    const size = 3 * 1024 * 1024 + 5;
    const digest = await makeTestFile(owner, size, 'SHARE-E2E-MARKER');
    const id = await owner.evaluate(async () => {
      const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
      return (await window.wos.files.put('shared.bin', new Blob([data]))).id;
    });

    // The Files view: Share → at most 2 downloads → Create link.
    await owner.getByRole('tab', { name: 'Files' }).click();
    const row = owner.getByRole('row', { name: /shared\.bin/ });
    await waitUntil('the file in the list', () => row.isVisible(), 15_000, 200);
    await row.getByRole('button', { name: 'Share shared.bin' }).click();
    await owner.getByTestId('share-max').fill('2');
    await owner.getByTestId('share-create').click();
    const made = await owner.waitForSelector('[data-testid=share-link], dialog [role=alert]', {
      timeout: 20_000,
    });
    if ((await made.getAttribute('role')) === 'alert') throw new Error(await made.innerText());
    const link = await owner.getByTestId('share-link').inputValue();
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#\/s\/[A-Za-z0-9_-]{152}$/);
    const code = link.slice(link.indexOf('#/s/') + 4);

    // A fresh profile, no account: the guest page downloads with progress.
    const first = await openLink(link);
    expect(first).toMatchObject({ state: 'done', shown: 'done', name: 'shared.bin', size, digest });
    expect(first).toMatchObject({ ownerChecked: true, oldLinkNotice: false });
    expect(first.progress.length).toBeGreaterThan(0);
    expect(first.progress.at(-1)).toBe(size);
    // Another fresh profile through the SDK: wos.files.get(link).
    const sdkPage = await openNode(await browser.newContext(), server.url);
    const viaSdk = await sdkPage.evaluate(async (l) => {
      const seen: number[] = [];
      const blob = await window.wos.files.get(l, { onProgress: (p) => seen.push(p.bytes) });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      return {
        size: bytes.length,
        digest: Array.from(d, (b) => b.toString(16).padStart(2, '0')).join(''),
        seen: seen.length,
      };
    }, link);
    expect(viaSdk).toMatchObject({ size, digest });
    expect(viaSdk.seen).toBeGreaterThan(0);
    await sdkPage.context().close();

    // Two downloads allowed: a third session is refused.
    expect(await openLink(link)).toMatchObject({ shown: 'failed', code: 'SHARE_LIMIT_REACHED' });

    // A tampered link fails before any network.
    const at = 40;
    const tampered = link.replace(
      code,
      code.slice(0, at) + (code[at] === 'A' ? 'B' : 'A') + code.slice(at + 1),
    );
    expect(await openLink(tampered)).toMatchObject({ code: 'SHARE_LINK_TAMPERED' });

    // Revoked from the dialog: a new guest gets SHARE_REVOKED.
    await owner.getByTestId('share-revoke').click();
    await owner.getByText('Revoked').waitFor();
    expect(await openLink(link)).toMatchObject({ shown: 'failed', code: 'SHARE_REVOKED' });

    // An expiring link, opened after its expiry.
    const short = await shareOf(owner, id, { expiresAt: Date.now() + 2500 });
    await new Promise((r) => setTimeout(r, 3000));
    const expired = await openLink(short);
    expect(expired).toMatchObject({ shown: 'failed', code: 'SHARE_LINK_EXPIRED' });
    expect(expired.error?.message).toMatch(/expired/);

    // The owner's tab reloads: its shares are served again from IndexedDB, the revoked one
    // still answers SHARE_REVOKED.
    const again = await shareOf(owner, id, {});
    await owner.reload();
    await owner.waitForFunction(() => window.wos !== undefined);
    await owner.evaluate(() => window.wos.ready);
    expect(await openLink(again)).toMatchObject({ state: 'done', size, digest });
    expect(await openLink(link)).toMatchObject({ shown: 'failed', code: 'SHARE_REVOKED' });

    // The link re-issued naming another owner, as any link holder could (it has the keys): the
    // owner's server answers, the guest refuses its manifest and reads nothing.
    const otherOwner = new Uint8Array(32).fill(0x5a);
    const wrong = await openLink(reissueShareLink(again, { ownerKey: otherOwner }));
    expect(wrong).toMatchObject({ state: 'failed', shown: 'failed', code: 'SHARE_WRONG_OWNER' });
    expect(wrong.error?.message).toMatch(/not signed by the owner the link names/);
    expect(wrong).toMatchObject({ size: 0, progress: [] });
    // The same share as a version 1 link (made before links named owners) is still read, with
    // a notice that its owner could not be checked.
    const v1 = await openLink(reissueShareLink(again, { version1: true }));
    expect(v1).toMatchObject({ state: 'done', size, digest, ownerChecked: false });
    expect(v1.oldLinkNotice).toBe(true);

    // The code never reached the server.
    expect(log.length).toBeGreaterThan(0);
    for (const line of log) {
      expect(line).not.toContain(code.slice(0, 20));
      expect(line).not.toContain('#/s/');
    }
    expect(peer).toBeDefined();
  });
});
