import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { inviteOf, launchBrowser, nodeIds, openNode, startServer, waitUntil } from './fixtures.ts';
import { idbContains, makeTestFile, rawShards, readDigest } from './storage-pages.ts';

const MiB = 1024 * 1024;

/** Puts `window.__testFile` (see makeTestFile) as `name`; returns the file id. */
async function putTestFile(page: Page, name: string): Promise<string> {
  return page.evaluate(async (n) => {
    const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
    const ref = await window.wos.files.put(n, new Blob([data]));
    return ref.id;
  }, name);
}

async function storeUsage(page: Page): Promise<number> {
  return page.evaluate(async () => (await window.__wosApp.started).shardStore.usage());
}

async function storeId(page: Page): Promise<string> {
  return page.evaluate(async () => (await window.__wosApp.started).shardStore.id);
}

async function health(page: Page, id: string, deep = false) {
  return page.evaluate(
    async ({ id, deep }) => (await window.__wosApp.started).storage.files.health(id, { deep }),
    { id, deep },
  );
}

async function listNames(page: Page): Promise<string[]> {
  return page.evaluate(async () => (await window.wos.files.list()).map((f) => f.name));
}

/**
 * Issue #4's browser checks on a 5-tab mesh (one tab per browser profile, so 5 devices): the
 * uploader places shards on the 4 others, so the default code is (k = 2, n = 4), one shard of
 * every stripe on each of them.
 */
describe('files across a 5-tab mesh in real Chromium', () => {
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

  it('detects a shard altered in a holder’s IndexedDB, still reads the file, and repair replaces the shard', async () => {
    const digest = await makeTestFile(a, 6 * MiB + 77, 'ROT-MARKER');
    const id = await putTestFile(a, 'rot.bin');
    expect((await health(a, id)).state).toBe('healthy');

    // A shard the manifest places on a holder (a put retried elsewhere may leave an orphan).
    const victim = holders[1]!;
    const victimStore = await storeId(victim);
    const where = await a.evaluate(
      async (f) => (await window.__wosApp.started).storage.files.locate(f),
      id,
    );
    const stripe = where.findIndex((s) => s.includes(victimStore));
    expect(stripe, 'the holder keeps a shard of the file').toBeGreaterThanOrEqual(0);
    const key = `${id}/${stripe}/${where[stripe]!.indexOf(victimStore)}`;
    const original = await rawShards(victim, id, 'flip', key);
    expect(Object.keys(original)).toEqual([key]);

    const bad = await health(a, id);
    expect(bad.shards.corrupt).toBe(1);
    expect(bad.state).toBe('degraded');
    expect(await readDigest(a, id)).toEqual({ size: 6 * MiB + 77, digest });

    const report = await a.evaluate(
      async (f) => (await window.__wosApp.started).storage.files.repair(f),
      id,
    );
    expect(report.rebuilt).toBeGreaterThanOrEqual(1);
    expect(report.after.state).toBe('healthy');
    const after = await health(a, id, true);
    expect(after.state).toBe('healthy');
    expect(after.shards.corrupt).toBe(0);
    // The slot's shard is whole again on the store the manifest now names: in place on the
    // victim as a rule (every store already holds a shard of the stripe), elsewhere when the
    // put had to place one of the stripe's shards off its first choice (a stalled channel).
    const slot = key.split('/').map(Number).slice(-1)[0]!;
    const placed = await a.evaluate(
      async (f) => (await window.__wosApp.started).storage.files.locate(f),
      id,
    );
    const holderStore = placed[stripe]![slot]!;
    let holderPage: Page | undefined;
    for (const p of [a, ...holders]) if ((await storeId(p)) === holderStore) holderPage = p;
    expect(holderPage, `a tab serves store ${holderStore}`).toBeDefined();
    const now = await rawShards(holderPage!, id, 'read');
    expect(now[key]).toEqual(original[key]);
    if (holderStore !== victimStore) {
      console.log(`repair placed ${key} on another store than the altered copy's`);
    }
  });

  it('a full quota is a clear error and leaves no partial file on any holder', async () => {
    const pages = [a, ...holders];
    const before = await Promise.all(pages.map(storeUsage));
    // Room for about one 1.4 MiB shard on each store: the second stripe of 12 MiB cannot fit.
    await Promise.all(
      pages.map((p, i) =>
        p.evaluate(
          (bytes) => window.__wosApp.donate({ donatedBytes: bytes }),
          before[i]! + 2 * MiB,
        ),
      ),
    );
    try {
      await makeTestFile(a, 12 * MiB, 'QUOTA-MARKER');
      const err = await a.evaluate(async () => {
        const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
        try {
          await window.wos.files.put('too-big.bin', new Blob([data]));
          return { code: 'NONE', message: '', name: '' };
        } catch (e) {
          const x = e as { code?: string; message?: string; name?: string };
          return { code: x.code ?? 'NONE', message: x.message ?? String(e), name: x.name ?? '' };
        }
      });
      expect(err.code).toBe('QUOTA_FULL');
      // Class names survive the minified build.
      expect(err.name).toBe('QuotaFullError');
      expect(err.message).toMatch(/quota full/);
      expect(err.message).toMatch(/raise the donation or add nodes/);
      expect(await listNames(a)).not.toContain('too-big.bin');
      // The owner's delete reached every holder: usage is back where it was.
      await waitUntil(
        'holders to drop the partial upload',
        async () => (await Promise.all(pages.map(storeUsage))).every((u, i) => u === before[i]),
        10_000,
      );
      for (const p of pages) expect((await idbContains(p, 'QUOTA-MARKER')).found).toBe(false);
    } finally {
      await Promise.all(
        pages.map((p) => p.evaluate(() => window.__wosApp.donate({ donatedBytes: 1024 ** 3 }))),
      );
    }
  });

  it('closing the uploader mid-put leaves no half-visible file', async () => {
    const uploader = await openNode(ctxA, await inviteOf(holders[0]!));
    await waitUntil('6 nodes', async () => (await nodeIds(a)).length === 6, 10_000);
    await makeTestFile(uploader, 32 * MiB, 'HALF-MARKER');
    await uploader.evaluate(() => {
      const w = window as unknown as { __testFile: Uint8Array<ArrayBuffer>; __stored: number };
      w.__stored = 0;
      void window.wos.files
        .put('half.bin', new Blob([w.__testFile]), { onProgress: (p) => (w.__stored = p.bytes) })
        .catch(() => {});
    });
    // A fresh tab's first stripes take 7–15 s to be stored here on a quiet machine (holders' first
    // IndexedDB writes; see the closing note of stop 8), far longer under CI load.
    await waitUntil(
      'the first stripes to be stored',
      async () => uploader.evaluate(() => (window as unknown as { __stored: number }).__stored > 0),
      90_000,
    );
    await uploader.close({ runBeforeUnload: true });
    await waitUntil('5 nodes', async () => (await nodeIds(a)).length === 5, 5_000);
    for (const p of [a, ...holders]) expect(await listNames(p)).not.toContain('half.bin');
  });

  it('after the uploader and n − k holders close, a new tab of the same profile reads 32 MiB byte-identical; peers saw no plaintext; another key is refused', async () => {
    const MARKER = 'WOS-PLAINTEXT-MARKER-7f3k';
    const size = 32 * MiB + 12345;
    const digest = await makeTestFile(a, size, MARKER);
    const put = await a.evaluate(async () => {
      const data = (window as unknown as { __testFile: Uint8Array<ArrayBuffer> }).__testFile;
      const progress: number[] = [];
      const ref = await window.wos.files.put('secret-report-name.pdf', new Blob([data]), {
        onProgress: (p) => progress.push(p.bytes),
      });
      const info = (await window.wos.files.list()).find((f) => f.id === ref.id);
      return { ref, progress, k: info?.k, n: info?.n, stores: info?.stores.length };
    });
    expect(put.ref.size).toBe(size);
    expect(put.progress.length).toBeGreaterThan(1);
    expect(put.progress.at(-1)).toBe(size);
    expect({ k: put.k, n: put.n, stores: put.stores }).toEqual({ k: 2, n: 4, stores: 4 });

    // Peers hold ciphertext only: no plaintext marker, no file name.
    for (const h of holders) {
      const scan = await idbContains(h, MARKER);
      expect(scan.bytes).toBeGreaterThan(size / 3);
      expect(scan.found).toBe(false);
      expect((await idbContains(h, 'secret-report-name')).found).toBe(false);
    }

    // The uploader and n − k = 2 holders go away.
    const invite = await inviteOf(holders[3]!);
    const aStore = await storeId(a);
    await a.close({ runBeforeUnload: true });
    await holders[0]!.context().close();
    await holders[1]!.context().close();
    await waitUntil('2 nodes', async () => (await nodeIds(holders[2]!)).length === 2, 5_000);

    // A new tab of the uploader's profile (same key, same store) reads it from 3 of 5 stores.
    const a2 = await openNode(ctxA, invite);
    expect(await storeId(a2)).toBe(aStore);
    expect(await listNames(a2)).toContain('secret-report-name.pdf');
    expect(await readDigest(a2, put.ref.id)).toEqual({ size, digest });
    // 2 of its 4 stores are left: at risk, unless the new tab's repair pass (~2 s after it
    // learns the stores) has already rebuilt shards onto its own store, the one store without
    // any: then degraded, on 3 stores (it cannot be healthy with 3 stores online).
    const h = await health(a2, put.ref.id);
    if (h.state === 'at-risk') expect(h.tolerance).toBe(0);
    else expect(h).toMatchObject({ state: 'degraded', stores: 3, tolerance: 1 });

    // Another profile (another storage key) is refused with a clear error.
    const other = await readDigest(holders[2]!, put.ref.id);
    expect(other).toMatchObject({ code: 'WRONG_KEY_OR_CORRUPT' });
  });
});
