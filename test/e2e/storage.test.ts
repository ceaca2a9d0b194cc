import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { inviteOf, launchBrowser, nodeIds, openNode, startServer, waitUntil } from './fixtures.ts';

/** Scans every IndexedDB record of a page's shard stores for a byte marker. */
async function idbContains(page: Page, marker: string): Promise<{ found: boolean; bytes: number }> {
  return page.evaluate(async (m) => {
    const needle = new TextEncoder().encode(m);
    let bytes = 0;
    let found = false;
    const scan = (b: Uint8Array): void => {
      bytes += b.length;
      outer: for (let i = 0; i + needle.length <= b.length; i++) {
        for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle[j]) continue outer;
        found = true;
        return;
      }
    };
    const visit = (v: unknown): void => {
      if (v instanceof Uint8Array) scan(v);
      else if (v instanceof ArrayBuffer) scan(new Uint8Array(v));
      else if (typeof v === 'string') scan(new TextEncoder().encode(v));
      else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
    };
    for (const info of await indexedDB.databases()) {
      if (!info.name?.startsWith('wos-shards')) continue;
      const db = await new Promise<IDBDatabase>((r, j) => {
        const req = indexedDB.open(info.name!);
        req.onsuccess = () => r(req.result);
        req.onerror = () => j(req.error);
      });
      for (const store of Array.from(db.objectStoreNames)) {
        const all = await new Promise<unknown[]>((r) => {
          const req = db.transaction(store).objectStore(store).getAll();
          req.onsuccess = () => r(req.result);
        });
        all.forEach(visit);
      }
      db.close();
    }
    return { found, bytes };
  }, marker);
}

describe('files across the mesh in real Chromium', () => {
  let server: WosServer;
  let browser: Browser;
  let ctxA: BrowserContext;
  let a: Page;
  let holders: Page[] = [];

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    ctxA = await browser.newContext();
    a = await openNode(ctxA, server.url);
    const invite = await inviteOf(a);
    holders = await Promise.all(
      [1, 2, 3, 4].map(async () => openNode(await browser.newContext(), invite)),
    );
    await waitUntil('5 nodes', async () => (await nodeIds(a)).length === 5, 10_000);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('puts a file from one tab and reads it byte-identical from a new tab of the same profile', async () => {
    const MARKER = 'WOS-PLAINTEXT-MARKER-7f3k';
    const put = await a.evaluate(async (marker) => {
      const size = 8 * 1024 * 1024 + 12345;
      const data = new Uint8Array(size);
      for (let off = 0; off < size; off += 65536) {
        crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
      }
      const m = new TextEncoder().encode(marker);
      for (let off = 1000; off + m.length < size; off += 1024 * 1024) data.set(m, off);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
      const progress: number[] = [];
      const ref = await window.wos.files.put('secret-report-name.pdf', new Blob([data]), {
        onProgress: (p) => progress.push(p.bytes),
      });
      return { ref, digest: Array.from(digest), progress: progress.length, size };
    }, MARKER);
    expect(put.ref.size).toBe(put.size);
    expect(put.progress).toBeGreaterThan(0);

    // Peers hold ciphertext only: no plaintext marker, no file name.
    for (const h of holders) {
      const scan = await idbContains(h, MARKER);
      expect(scan.found).toBe(false);
      expect((await idbContains(h, 'secret-report-name')).found).toBe(false);
    }
    const stored = await Promise.all(
      holders.map(async (h) => (await idbContains(h, MARKER)).bytes),
    );
    expect(stored.filter((b) => b > 0).length).toBeGreaterThanOrEqual(2);

    await a.close({ runBeforeUnload: true });
    const a2 = await openNode(ctxA, await inviteOf(holders[0]!));
    const got = await a2.evaluate(async (id) => {
      const list = await window.wos.files.list();
      const blob = await window.wos.files.get(id);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      const health = await window.wos.files.health(id);
      return {
        names: list.map((f) => f.name),
        size: bytes.length,
        digest: Array.from(digest),
        health: health.state,
      };
    }, put.ref.id);
    expect(got.names).toContain('secret-report-name.pdf');
    expect(got.size).toBe(put.size);
    expect(got.digest).toEqual(put.digest);
    expect(['healthy', 'degraded', 'at-risk']).toContain(got.health);

    // Another profile (another storage key) cannot read it.
    const err = await holders[0]!.evaluate(async (id) => {
      try {
        await window.wos.files.get(id);
        return 'read it';
      } catch (e) {
        return (e as { code?: string }).code ?? String(e);
      }
    }, put.ref.id);
    expect(['WRONG_KEY_OR_CORRUPT', 'FILE_NOT_FOUND']).toContain(err);
  });
});
