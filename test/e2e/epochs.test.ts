import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import { ownerVerifier } from '../../src/core/account/ed25519.ts';
import { parseRecoveryCode } from '../../src/core/account/recovery-code.ts';
import { openManifest, type Manifest } from '../../src/core/storage/manifest.ts';
import {
  enterPersonal,
  launchBrowser,
  nodeIds,
  openNode,
  selfId,
  startServer,
  waitUntil,
} from './fixtures.ts';
import { makeTestFile, readDigest } from './storage-pages.ts';

/**
 * Storage epochs in real Chromium: after device 2 is revoked, device 1 writes new files under
 * a new epoch key that device 3 was granted and device 2 never saw, without a reload; files
 * written before stay listed and readable on the devices that remain, also after a reload.
 */
describe('storage epochs of an account in real Chromium', () => {
  let server: WosServer;
  let browser: Browser;
  const d: Page[] = [];
  let recoveryCode = '';

  beforeAll(async () => {
    server = await startServer(0);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const put = (page: Page, name: string): Promise<string> =>
    page.evaluate(async (n) => {
      const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
      return (await window.wos.files.put(n, new Blob([data]))).id;
    }, name);
  const listed = (page: Page): Promise<[string, number][]> =>
    page.evaluate(async () =>
      (await window.wos.files.list()).map((f) => [f.name, f.epoch] as [string, number]).sort(),
    );
  const ringOf = (page: Page): Promise<number[]> =>
    page.evaluate(async () =>
      (await window.__wosApp.started).storage.files.keyRing.all.map((r) => r.epoch),
    );

  it('device 2 revoked: new files go under a new epoch that device 3 reads and device 2 cannot', async () => {
    const names = ['One', 'Two', 'Three'];
    for (const [i, name] of names.entries()) {
      const page = await openNode(await browser.newContext(), server.url);
      if (i === 0) {
        recoveryCode = await page.evaluate(
          async (n) => (await window.wos.account.create('carol', { deviceName: n })).recoveryCode,
          name,
        );
      } else {
        await page.evaluate(
          ({ code, n }) => window.wos.account.signIn({ recoveryCode: code, deviceName: n }),
          { code: recoveryCode, n: name },
        );
      }
      await enterPersonal(page);
      d.push(page);
    }
    const [d1, d2, d3] = d as [Page, Page, Page];
    const ids = await Promise.all(d.map(selfId));
    await waitUntil(
      'all three see each other',
      async () => (await nodeIds(d1)).length === 3 && (await nodeIds(d3)).length === 3,
      15_000,
    );
    expect(await ringOf(d1)).toEqual([0]);

    // Before the revocation: an epoch-0 file.
    const beforeDigest = await makeTestFile(d1, 300_000, 'BEFORE-REVOKE');
    const before = await put(d1, 'before.bin');
    expect(await listed(d1)).toEqual([['before.bin', 0]]);

    // Device 1 revokes device 2; device 1 makes epoch 1 and device 3 is granted it, no reload.
    await d1.evaluate((id) => window.wos.account.revoke(id), ids[1]!.split('-')[0]!);
    await waitUntil(
      'device 2 disconnected',
      async () => !(await nodeIds(d1)).includes(ids[1]!) && (await nodeIds(d2)).length === 1,
      10_000,
    );
    await waitUntil(
      'device 1 writes under epoch 1',
      async () => (await ringOf(d1)).includes(1),
      10_000,
    );
    await waitUntil('device 3 holds epoch 1', async () => (await ringOf(d3)).includes(1), 10_000);
    expect(await ringOf(d1)).toEqual([0, 1]);
    expect(await ringOf(d2)).toEqual([0]);

    const afterDigest = await makeTestFile(d1, 250_000, 'AFTER-REVOKE');
    const after = await put(d1, 'after.bin');
    expect(await listed(d1)).toEqual([
      ['after.bin', 1],
      ['before.bin', 0],
    ]);
    // Device 3 lists both and reads both byte-identical.
    await waitUntil(
      'device 3 lists both files',
      async () => (await listed(d3)).length === 2,
      10_000,
    );
    expect(await listed(d3)).toEqual([
      ['after.bin', 1],
      ['before.bin', 0],
    ]);
    expect(await readDigest(d3, after)).toEqual({ size: 250_000, digest: afterDigest });
    expect(await readDigest(d3, before)).toEqual({ size: 300_000, digest: beforeDigest });
    expect(await readDigest(d1, before)).toEqual({ size: 300_000, digest: beforeDigest });

    // Device 2's stored state: it holds the account secret (so epoch 0) and nothing newer.
    const signed = await d1.evaluate(
      async (id) => (await (await window.__wosApp.started).storage.files.manifest(id)).signed,
      after,
    );
    expect(JSON.parse(signed.m)).toMatchObject({ epoch: 1 });
    await d2.reload();
    await d2.waitForFunction(() => window.__wosApp !== undefined);
    expect(await d2.evaluate(async () => (await window.__wosApp.account).epochs)).toEqual([0]);
    expect(await ringOf(d2)).toEqual([0]);
    const d2Err = await d2.evaluate(async (id) => {
      const files = (await window.__wosApp.started).storage.files;
      return files.shareKeys(id, 1).then(
        () => 'opened',
        (e: { code?: string }) => e.code ?? String(e),
      );
    }, after);
    expect(d2Err).toBe('EPOCH_KEY_MISSING');
    // And the epoch-0 root (what the secret derives) does not open the new file's manifest.
    const keys = await deriveAccountKeys(crypto.subtle, parseRecoveryCode(recoveryCode));
    const opened = await openManifest(
      crypto.subtle,
      keys.storageRootEpoch0,
      signed,
      ownerVerifier(crypto.subtle),
    ).then(
      (m: Manifest) => m.meta.name,
      (e: { code?: string }) => e.code,
    );
    expect(opened).toBe('WRONG_KEY_OR_CORRUPT');
    // Nor can device 2 read it through WOS (it is refused by the personal mesh).
    expect(await readDigest(d2, after)).toMatchObject({ code: expect.any(String) });

    // Device 1 reloads: its ring comes from its stored session; both files still there.
    await enterPersonal(d1);
    expect(await ringOf(d1)).toEqual([0, 1]);
    await waitUntil(
      'device 1 lists both again',
      async () => (await listed(d1)).length === 2,
      15_000,
    );
    expect(await readDigest(d1, after)).toEqual({ size: 250_000, digest: afterDigest });
    expect(await readDigest(d1, before)).toEqual({ size: 300_000, digest: beforeDigest });
  });
});
