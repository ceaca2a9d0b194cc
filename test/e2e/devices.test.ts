import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import { parseRecoveryCode } from '../../src/core/account/recovery-code.ts';
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

describe('devices of an account in real Chromium: admission and revocation', () => {
  let server: WosServer;
  let browser: Browser;
  let d1: Page;
  let d2: Page;
  let recoveryCode = '';
  let meshKey = '';

  beforeAll(async () => {
    server = await startServer(0);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('two devices of one account form the personal mesh and list each other', async () => {
    d1 = await openNode(await browser.newContext(), server.url);
    recoveryCode = await d1.evaluate(
      async () => (await window.wos.account.create('alice', { deviceName: 'One' })).recoveryCode,
    );
    meshKey = (await deriveAccountKeys(crypto.subtle, parseRecoveryCode(recoveryCode))).meshKey;
    await enterPersonal(d1);
    d2 = await openNode(await browser.newContext(), server.url);
    await d2.evaluate(
      (code) => window.wos.account.signIn({ recoveryCode: code, deviceName: 'Two' }),
      recoveryCode,
    );
    await enterPersonal(d2);
    const [id1, id2] = [await selfId(d1), await selfId(d2)];
    await waitUntil('both see both', async () => (await nodeIds(d1)).includes(id2), 10_000);
    await d1.click('[data-testid=tab-devices]');
    await waitUntil(
      'the Devices view lists both',
      async () => (await d1.locator('[data-testid=devices] tbody tr').count()) === 2,
      10_000,
    );
    const rows = await d1.locator('[data-testid=devices] tbody tr th').allTextContents();
    expect(rows.map((r) => r.trim().split(/\s+/)[0])).toEqual(['One', 'Two']);
    expect(id1.split('-')[0]).not.toBe(id2.split('-')[0]);
  });

  it('a profile without a certificate is refused by the personal mesh (CERT_MISSING)', async () => {
    const x = await openNode(await browser.newContext(), `${server.url}/#/m/${meshKey}`);
    await waitUntil(
      'the refused tab says why',
      async () =>
        ((await x.textContent('[data-testid=error]').catch(() => '')) ?? '').includes(
          'showed no device certificate',
        ),
      15_000,
    );
    const xId = await selfId(x);
    expect(await nodeIds(d1)).not.toContain(xId);
    expect(await nodeIds(x)).toEqual([xId]);
    await x.context().close();
  });

  it('revoking device 2 disconnects it; it cannot come back or read a file stored afterwards', async () => {
    const id2 = await selfId(d2);
    const dev2 = id2.split('-')[0]!;
    const row = d1.locator(`[data-testid=devices] tr[data-device-id="${dev2}"]`);
    await row.locator('[data-testid=revoke]').click();
    await row.locator('[data-testid=revoke-confirm]').click();
    const gone = await waitUntil(
      'device 2 disconnected',
      async () => !(await nodeIds(d1)).includes(id2) && (await nodeIds(d2)).length === 1,
      5_000,
    );
    expect(gone).toBeLessThan(5_000);
    await waitUntil(
      'the Devices view marks it revoked',
      async () => ((await row.textContent()) ?? '').includes('revoked'),
      5_000,
    );

    // A file stored afterwards on device 1.
    const digest = await makeTestFile(d1, 200_000, 'AFTER-REVOKE');
    const fileId = await d1.evaluate(async () => {
      const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
      return (await window.wos.files.put('after.bin', new Blob([data]))).id;
    });
    expect(await readDigest(d1, fileId)).toEqual({ size: 200_000, digest });

    // Device 2 reloads and tries again: refused (CERT_REVOKED), and cannot read the file.
    await enterPersonal(d2).catch(() => {});
    const id2b = await selfId(d2);
    await waitUntil(
      'device 2 is told it was revoked',
      async () =>
        ((await d2.textContent('[data-testid=error]').catch(() => '')) ?? '').includes(
          'was revoked',
        ),
      15_000,
    );
    expect(await nodeIds(d1)).not.toContain(id2b);
    const read = await readDigest(d2, fileId);
    expect('code' in read).toBe(true);
  });
});
