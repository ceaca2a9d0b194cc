import type { Browser, Page, Worker } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { GF_SIMD_MODULE } from '../../src/core/storage/gf256-simd.ts';
import type { WorkerStripeCoder } from '../../src/platform/storage/worker-coder.ts';
import { launchBrowser, openNode, startServer, waitUntil } from './fixtures.ts';

/**
 * The tab's erasure coder in real Chromium: the app codes in a dedicated worker (the built
 * `coder-worker-*.js`), every erasure pattern of a small code round-trips through it, and a
 * worker that crashes mid-call fails that call with CODER_WORKER_FAILED instead of hanging,
 * after which the next call runs on a fresh worker.
 */
declare global {
  interface Window {
    __coderTest?: Promise<string>;
  }
}

const coderWorkers = (page: Page): Worker[] =>
  page.workers().filter((w) => /\/assets\/coder-worker-[\w-]+\.js$/.test(w.url()));

describe('erasure coder worker in real Chromium', () => {
  let server: WosServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = await openNode(await browser.newContext(), server.url);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the app codes in a dedicated worker', async () => {
    const info = await page.evaluate(async () => {
      const coder = (await window.__wosApp.started).coder as WorkerStripeCoder;
      return {
        owned: typeof coder.encodeOwned === 'function',
        workers: coder.workers,
        started: coder.started,
      };
    });
    expect(info.owned).toBe(true);
    expect(info.workers).toBeGreaterThanOrEqual(1);
    expect(info.started).toBeGreaterThanOrEqual(1);
    expect(coderWorkers(page).length).toBe(info.workers);
  });

  it('the coder worker has WebAssembly SIMD, so it codes with the SIMD kernel', async () => {
    const worker = coderWorkers(page)[0]!;
    const valid = await worker.evaluate(
      (bytes) => WebAssembly.validate(new Uint8Array(bytes)),
      [...GF_SIMD_MODULE],
    );
    expect(valid).toBe(true);
  });

  it('cuts, seals, codes and hashes a stripe in its workers: the chunks open on the page with the file key', async () => {
    const r = await page.evaluate(async () => {
      const coder = (await window.__wosApp.started).coder as WorkerStripeCoder;
      const k = 3;
      const m = 2;
      const first = 5;
      const content = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
        'encrypt',
        'decrypt',
      ]);
      const fileId = crypto.getRandomValues(new Uint8Array(16));
      const stripe = new Uint8Array(3 * 40_000);
      for (let o = 0; o < stripe.length; o += 65_536) {
        crypto.getRandomValues(stripe.subarray(o, o + 65_536));
      }
      const keep = [0, 1, 2].map((i) => stripe.slice(i * 40_000, (i + 1) * 40_000));
      const { shards, digests } = await coder.sealEncode(
        { fileId, content },
        first,
        stripe,
        k,
        true,
        m,
        true,
      );
      const u64be = (i: number): Uint8Array => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setUint32(4, i);
        return b;
      };
      const eq = (a: Uint8Array, b: Uint8Array): boolean =>
        a.length === b.length && a.every((x, i) => x === b[i]);
      const opened = await Promise.all(
        shards.slice(0, k).map(async (c, i) => {
          const iv = new Uint8Array(12);
          iv.set(u64be(first + i), 4);
          const aad = new Uint8Array([...fileId, ...u64be(first + i), i === k - 1 ? 1 : 0]);
          const p = await crypto.subtle.decrypt(
            { name: 'AES-GCM', iv, additionalData: aad },
            content,
            c as BufferSource,
          );
          return eq(new Uint8Array(p), keep[i]!);
        }),
      );
      const parity = await coder.encode(shards.slice(0, k), m);
      const hashes = await Promise.all(
        shards.map(
          async (s) => new Uint8Array(await crypto.subtle.digest('SHA-256', s as BufferSource)),
        ),
      );
      return {
        n: shards.length,
        opened,
        parity: parity.every((p, j) => eq(p, shards[k + j]!)),
        digests: digests?.length === k + m && digests.every((d, i) => eq(d, hashes[i]!)),
        moved: stripe.byteLength === 0,
      };
    });
    expect(r).toEqual({
      n: 5,
      opened: [true, true, true],
      parity: true,
      digests: true,
      moved: true,
    });
  });

  it('round-trips every erasure pattern of a (4,7) code, and transfers what it is given', async () => {
    const r = await page.evaluate(async () => {
      const coder = (await window.__wosApp.started).coder as WorkerStripeCoder;
      const k = 4;
      const m = 3;
      const size = 65_537;
      const data = Array.from({ length: k }, () => {
        const d = new Uint8Array(size);
        for (let o = 0; o < size; o += 65_536) crypto.getRandomValues(d.subarray(o, o + 65_536));
        return d;
      });
      const keep = data.map((d) => d.slice());
      const parity = await coder.encode(data, m);
      const intact = data.every(
        (d, i) => d.length === size && d.every((b, j) => b === keep[i]![j]),
      );
      const owned = await coder.encodeOwned(data, m);
      const detached = data.every((d) => d.byteLength === 0);
      const eq = (a: Uint8Array, b: Uint8Array): boolean =>
        a.length === b.length && a.every((x, i) => x === b[i]);
      const full = [...keep, ...parity];
      const sameOwned = owned.length === k + m && owned.every((s, i) => eq(s, full[i]!));
      let patterns = 0;
      let wrong = 0;
      for (let mask = 1; mask < 1 << (k + m); mask++) {
        const lost = [...Array(k + m).keys()].filter((i) => mask & (1 << i));
        if (lost.length > m) continue;
        patterns++;
        const given = full.map((s, i) => (lost.includes(i) ? undefined : s));
        const all = await coder.reconstruct(given, k, m);
        if (!all.every((s, i) => eq(s, full[i]!))) wrong++;
      }
      let tooFew = '';
      try {
        await coder.reconstruct(
          [full[0], undefined, undefined, undefined, undefined, full[5], full[6]],
          k,
          m,
        );
      } catch (e) {
        tooFew = (e as { code?: string }).code ?? String(e);
      }
      return { intact, detached, sameOwned, patterns, wrong, tooFew };
    });
    expect(r.intact).toBe(true);
    expect(r.detached).toBe(true);
    expect(r.sameOwned).toBe(true);
    expect(r.patterns).toBe(63); // C(7,1) + C(7,2) + C(7,3)
    expect(r.wrong).toBe(0);
    expect(r.tooFew).toBe('NOT_ENOUGH_SHARDS');
  });

  it('a worker that crashes mid-call fails the call with CODER_WORKER_FAILED; the next call works', async () => {
    const [victim] = coderWorkers(page);
    expect(victim).toBeDefined();
    // The worker stops answering and then throws an uncaught error: a crash as the page sees it.
    await victim!.evaluate(() => {
      self.onmessage = null;
      setTimeout(() => {
        throw new Error('simulated coder crash');
      }, 300);
    });
    await page.evaluate(() => {
      window.__coderTest = (async () => {
        const coder = (await window.__wosApp.started).coder as WorkerStripeCoder;
        const data = [1, 2, 3].map((v) => new Uint8Array(1 << 16).fill(v));
        const t0 = performance.now();
        try {
          await coder.encode(data, 2);
          return 'resolved';
        } catch (e) {
          const err = e as { code?: string; name?: string; message?: string };
          return JSON.stringify({
            code: err.code,
            name: err.name,
            message: err.message,
            ms: performance.now() - t0,
          });
        }
      })();
    });
    const outcome = await page.evaluate(() => window.__coderTest!);
    expect(outcome).not.toBe('resolved');
    const err = JSON.parse(outcome) as { code: string; name: string; message: string; ms: number };
    expect(err.code).toBe('CODER_WORKER_FAILED');
    expect(err.name).toBe('CoderWorkerError');
    expect(err.message).toContain('simulated coder crash');
    expect(err.ms).toBeLessThan(10_000);

    const after = await page.evaluate(async () => {
      const coder = (await window.__wosApp.started).coder as WorkerStripeCoder;
      const data = [1, 2, 3].map((v) => new Uint8Array(1000).fill(v));
      const parity = await coder.encode(data, 2);
      const back = await coder.reconstruct([undefined, data[1], undefined, ...parity], 3, 2);
      return {
        ok: back[0]!.every((b) => b === 1) && back[2]!.every((b) => b === 3),
        started: coder.started,
      };
    });
    expect(after.ok).toBe(true);
    expect(after.started).toBeGreaterThanOrEqual(2);
    await waitUntil('the dead worker to be gone', () => !page.workers().includes(victim!), 5000);
  });

  it('a tab whose coder worker cannot load codes on its main thread instead', async () => {
    const context = await browser.newContext();
    // The worker script never arrives: the Worker fires `error`, its start fails.
    await context.route(/\/assets\/coder-worker-[\w-]+\.js$/, (route) => route.abort());
    const warnings: string[] = [];
    const p = await context.newPage();
    p.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
    await p.goto(server.url);
    await p.waitForFunction(() => window.wos !== undefined);
    await p.evaluate(() => window.wos.ready);
    const r = await p.evaluate(async () => {
      const coder = (await window.__wosApp.started).coder;
      const data = [5, 6].map((v) => new Uint8Array(4096).fill(v));
      const parity = await coder.encode(data, 2);
      const back = await coder.reconstruct([undefined, undefined, ...parity], 2, 2);
      return {
        worker: 'encodeOwned' in coder,
        ok: back[0]!.every((b) => b === 5) && back[1]!.every((b) => b === 6),
      };
    });
    expect(r.worker).toBe(false);
    expect(r.ok).toBe(true);
    expect(warnings.some((w) => w.includes('coding on the main thread'))).toBe(true);
    expect(coderWorkers(p)).toHaveLength(0);
    await context.close();
  });
});
