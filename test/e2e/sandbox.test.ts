import http from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installSandboxPool } from '../../bench/compute-local.ts';
import type { WosServer } from '../../signaling-server/server.ts';
import { CHROMIUM_ARGS, launchBrowser, openNode, startServer, waitUntil } from './fixtures.ts';

/**
 * The sandboxed worker pool in real Chromium, on a WOS tab: results, errors, the sandbox's
 * walls (proved against a canary server that counts every TCP connection and the WOS server's
 * own websocket counter), time limits, abort, queueing, resize and close.
 */
type Outcome = Partial<Record<'code' | 'message' | 'stack', string>> & {
  ok: boolean;
  value?: unknown;
  ms: number;
};

/** Kernel sources the cases use. */
const K = {
  double: 'export default (x) => x * 2',
  named: 'export function run({ a, b }) { return { sum: a + b, ab: [a, b] }; }',
  late: 'export default async (ms) => { await new Promise((r) => setTimeout(r, ms)); return "late"; }',
  arrays:
    'export default ({ v, buf }) => ({ v: v.map((x) => x * 2), buf: new Uint8Array(buf).reverse().buffer })',
  where:
    'export default () => ({ origin: self.origin, url: location.href.slice(0, 10), rtc: typeof RTCPeerConnection })',
  throws: 'function inner() { throw new RangeError("bad things"); }\nexport default () => inner();',
  wasmEval:
    'export default async () => { await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])); try { eval("1"); return "eval ran"; } catch (e) { return e.name; } }',
  loop: 'export default () => { while (true) {} }',
  /** Spins for `ms`; returns [index, start, end] (epoch ms, comparable across workers). */
  spin: 'export default ([i, ms]) => { const now = () => performance.timeOrigin + performance.now(); const t = now(); while (now() - t < ms) {} return [i, t, now()]; }',
};
type Span = [number, number, number];
const overlap = ([, s0, e0]: Span, [, s1, e1]: Span): boolean => s0 < e1 && s1 < e0;

/** Tries every way out of the sandbox it knows; reports what each attempt got. */
const ESCAPE = `export default async ({ ws, http, peerjs }) => {
  const out = {};
  const settle = (s) => new Promise((r) => { s.onopen = () => r('open'); s.onerror = () => r('error'); setTimeout(() => r('silent'), 3000); });
  const attempt = async (name, f) => { try { out[name] = await f(); } catch (e) { out[name] = e.name; } };
  const protoWs = () => { for (let o = self; o; o = Object.getPrototypeOf(o)) { const d = Object.getOwnPropertyDescriptor(o, 'WebSocket'); if (d) return d.value; } };
  await attempt('protoWs', () => settle(new (protoWs())(ws)));
  await attempt('concatWs', () => settle(new globalThis['Web' + 'Socket'](peerjs)));
  await attempt('reflectWs', () => settle(new (Reflect.get(self, 'WebSocket'))(ws)));
  await attempt('deleteWs', () => { try { delete self.WebSocket; } catch {} return settle(new self.WebSocket(ws)); });
  await attempt('fetch', async () => (await fetch(http), 'fetched'));
  await attempt('protoFetch', async () => { let o = self; while (!Object.hasOwn(o, 'fetch')) o = Object.getPrototypeOf(o); return (await o.fetch.call(self, http), 'fetched'); });
  await attempt('xhr', () => new Promise((r) => { const x = new XMLHttpRequest(); x.onload = () => r('loaded'); x.onerror = () => r('error'); x.open('GET', http); x.send(); }));
  await attempt('eventSource', () => settle(new EventSource(http)));
  await attempt('idb', () => new Promise((r, j) => { const q = indexedDB.open('wos-sandbox-marker'); q.onsuccess = () => r('opened'); q.onerror = () => j(q.error); }));
  await attempt('nestedWorker', () => new Promise((r) => {
    const src = 'const s = new WebSocket(' + JSON.stringify(ws) + '); s.onopen = () => postMessage("open"); s.onerror = () => postMessage("error");';
    const w = new Worker(URL.createObjectURL(new Blob([src])));
    w.onmessage = (e) => r('nested ' + e.data); w.onerror = () => r('nested failed');
  }));
  out.origin = self.origin;
  return out;
};`;

describe('sandboxed worker pool', () => {
  let server: WosServer;
  let browser: Browser;
  let page: Page;
  let canary: http.Server;
  let canaryPort = 0;
  let canaryHits = 0;
  const reports: string[] = [];

  beforeAll(async () => {
    canary = http.createServer((req, res) => {
      if (req.url?.startsWith('/report/')) reports.push(decodeURIComponent(req.url.slice(8)));
      res.end('canary');
    });
    canary.on('connection', () => canaryHits++);
    canary.on('upgrade', (_req, socket) => socket.destroy());
    await new Promise<void>((r) => canary.listen(0, '127.0.0.1', r));
    canaryPort = (canary.address() as { port: number }).port;
    server = await startServer();
    browser = await launchBrowser();
    page = await openNode(await browser.newContext(), server.url);
    await installSandboxPool(page);
    await page.evaluate(async () => {
      const { SandboxPool } = window.__wosSandbox;
      const pools = {
        main: new SandboxPool({ workers: 2 }),
        raw: new SandboxPool({ workers: 1, stubs: false }),
        one: new SandboxPool({ workers: 1 }),
      };
      window.__wosSandbox.pools = pools;
      await Promise.all(Object.values(pools).map((p) => p.ready));
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    canary?.close();
  });

  const run = (pool: string, source: string, input?: unknown, timeoutMs = 5000) =>
    page.evaluate(
      async ({ pool, source, input, timeoutMs }): Promise<Outcome> => {
        const { pools, makeKernel } = window.__wosSandbox;
        const kernel = await makeKernel(crypto.subtle, source);
        const t0 = performance.now();
        try {
          const value = await pools![pool]!.run(kernel, input, { timeoutMs });
          return { ok: true, value, ms: performance.now() - t0 };
        } catch (e) {
          const { code, message, kernelStack: stack } = e as Record<string, string>;
          return { ok: false, code, message, stack, ms: performance.now() - t0 };
        }
      },
      { pool, source, input, timeoutMs },
    );
  const value = async (pool: string, source: string, input?: unknown): Promise<unknown> =>
    (await run(pool, source, input)).value;
  const load = (pool: string) =>
    page.evaluate((pool) => window.__wosSandbox.pools![pool]!.load(), pool);

  it('returns results: numbers, objects, typed arrays and buffers (moved), async, `run`', async () => {
    expect(await value('main', K.double, 21)).toBe(42);
    expect(await value('main', K.named, { a: 2, b: 3 })).toEqual({ sum: 5, ab: [2, 3] });
    expect(await value('main', K.late, 50)).toBe('late');
    const arrays = await page.evaluate(async (source) => {
      const { pools, makeKernel } = window.__wosSandbox;
      const k = await makeKernel(crypto.subtle, source);
      const v = Float64Array.from([1.5, 2.5, 3.5]);
      const buf = Uint8Array.from([1, 2, 3]).buffer;
      const out = (await pools!.main!.run(k, { v, buf }, { timeoutMs: 5000 })) as {
        v: unknown;
        buf: unknown;
      };
      return {
        v: out.v instanceof Float64Array ? [...out.v] : 'not a Float64Array',
        buf: out.buf instanceof ArrayBuffer ? [...new Uint8Array(out.buf)] : 'not a buffer',
        inputMoved: v.length === 0 && buf.byteLength === 0,
      };
    }, K.arrays);
    expect(arrays).toEqual({ v: [3, 5, 7], buf: [3, 2, 1], inputMoved: true });
  });

  it('runs kernels with an opaque origin, in an iframe the page cannot reach into', async () => {
    expect(await value('main', K.where)).toEqual({
      origin: 'null',
      url: 'blob:null/',
      rtc: 'undefined',
    });
    const frame = await page.evaluate(() => {
      const f = document.querySelector<HTMLIFrameElement>('iframe[title="WOS compute sandbox"]')!;
      return { sandbox: f.getAttribute('sandbox'), reachable: !!f.contentDocument, doc: f.srcdoc };
    });
    expect(frame).toMatchObject({ sandbox: 'allow-scripts', reachable: false });
    expect(frame.doc).toContain("connect-src 'none'");
  });

  it('keeps a kernel error message and stack; a non-Error throw; an unsendable result', async () => {
    const r = await run('main', K.throws);
    expect(r).toMatchObject({ ok: false, code: 'KERNEL_ERROR' });
    expect(r.message).toContain('bad things');
    expect(r.stack).toMatch(/RangeError: bad things\n\s+at inner \(kernel:k-/);
    const s = await run('main', 'export default () => { throw "plain"; }');
    expect(s).toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringContaining('plain') });
    const f = await run('main', 'export default () => () => 1');
    expect(f).toMatchObject({ code: 'KERNEL_ERROR', message: expect.stringMatching(/sent back/) });
  });

  it.each([
    ['a syntax error', 'export default (x => '],
    ['no entry point', 'export const x = 1;'],
    ['a top-level throw', 'throw new Error("boom at load"); export default () => 1;'],
  ])('fails a kernel with %s as KERNEL_LOAD_FAILED, and the pool goes on', async (_, src) => {
    expect(await run('one', src)).toMatchObject({ ok: false, code: 'KERNEL_LOAD_FAILED' });
    expect(await value('one', 'export default () => "fine"')).toBe('fine');
  });

  it.each([
    ['fetch', 'export default (url) => fetch(url)'],
    ['indexedDB', 'export default () => indexedDB.open("x")'],
    ['WebSocket', 'export default (url) => new WebSocket(url.replace("http", "ws") + "peerjs")'],
    ['XMLHttpRequest', 'export default () => new XMLHttpRequest()'],
    ['importScripts', 'export default (url) => importScripts(url)'],
    ['BroadcastChannel', 'export default () => new BroadcastChannel("wos")'],
  ])('answers a kernel using %s with SANDBOX_VIOLATION', async (api, src) => {
    const r = await run('main', src, server.url);
    expect(r).toMatchObject({ ok: false, code: 'SANDBOX_VIOLATION' });
    expect(r.message).toContain(api);
  });

  it('lets no trick connect or read the host IndexedDB, stubs or none', async () => {
    const secret = `host-only-${Math.random()}`;
    const writeOrRead = (value?: string) =>
      page.evaluate(async (value) => {
        const db = await new Promise<IDBDatabase>((res, rej) => {
          const q = indexedDB.open('wos-sandbox-marker', 1);
          q.onupgradeneeded = () => q.result.createObjectStore('kv');
          q.onsuccess = () => res(q.result);
          q.onerror = () => rej(q.error);
        });
        const kv = db.transaction('kv', value ? 'readwrite' : 'readonly').objectStore('kv');
        const got = value ? kv.put(value, 'secret') : kv.get('secret');
        const result = await new Promise((res) => (got.onsuccess = () => res(got.result)));
        db.close();
        return result;
      }, value);
    await writeOrRead(secret);
    const canaryUrl = `http://127.0.0.1:${canaryPort}/`;
    // The canary counts connections: prove that it sees the host page's.
    await page.evaluate((url) => fetch(url, { mode: 'no-cors' }), canaryUrl);
    expect(canaryHits).toBeGreaterThan(0);
    canaryHits = 0;
    const wsBefore = server.metrics().wsConnectionsTotal;
    const targets = {
      ws: canaryUrl.replace('http', 'ws'),
      http: canaryUrl,
      peerjs: `${server.url.replace('http', 'ws')}peerjs/peerjs?key=peerjs&id=sandbox&token=t`,
    };
    const stubbed = await run('main', ESCAPE, targets, 20_000);
    const raw = await run('raw', ESCAPE, targets, 20_000);
    const all = (v: string, ...keys: string[]) => Object.fromEntries(keys.map((k) => [k, v]));
    const ws = ['protoWs', 'concatWs', 'reflectWs', 'deleteWs'];
    const others = ['fetch', 'protoFetch', 'xhr', 'eventSource', 'idb', 'nestedWorker'];
    const origin = 'null';
    expect(stubbed.value).toEqual({ ...all('SandboxViolationError', ...ws, ...others), origin });
    // Without the courtesy stubs the real APIs exist, and CSP and the opaque origin still hold.
    // (`deleteWs`: the real constructor is an own property of the global, gone once deleted.)
    expect(raw.value).toEqual({
      ...all('error', 'protoWs', 'concatWs', 'reflectWs', 'xhr', 'eventSource'),
      ...all('TypeError', 'deleteWs', 'fetch', 'protoFetch'),
      ...{ idb: 'SecurityError', nestedWorker: 'nested error', origin },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(canaryHits).toBe(0);
    expect(server.metrics().wsConnectionsTotal).toBe(wsBefore);
    expect(await writeOrRead()).toBe(secret);
    expect(JSON.stringify([stubbed, raw])).not.toContain(secret);
  });

  it('allows WebAssembly but not eval', async () => {
    expect(await value('main', K.wasmEval)).toBe('EvalError');
  });

  it('keeps kernels apart: one cannot tamper with the next; a kernel keeps its state', async () => {
    expect(await value('one', 'export default () => (Math.max = () => 42)(1, 2)')).toBe(42);
    expect(await value('one', 'export default () => Math.max(1, 2)')).toBe(2);
    const counter = 'let n = 0; export default () => ++n;';
    expect(await value('one', counter)).toBe(1);
    expect(await value('one', counter)).toBe(2);
  });

  it('kills an endless loop at its limit, holding up no other task; then runs N in parallel', async () => {
    const [loop, quick] = await Promise.all([
      run('main', K.loop, 0, 500),
      run('main', K.double, 1),
    ]);
    expect(quick).toMatchObject({ ok: true, value: 2 });
    expect(quick.ms).toBeLessThan(loop.ms); // done while the loop still ran
    expect(loop).toMatchObject({ ok: false, code: 'KERNEL_TIMEOUT' });
    expect(loop.ms).toBeGreaterThanOrEqual(499);
    expect(loop.ms).toBeLessThan(2000);
    expect(await load('main')).toEqual({ workers: 2, busy: 0, queued: 0 });
    await Promise.all([0, 1].map((i) => value('main', K.spin, [i, 1]))); // load it in both
    const spans = await Promise.all([0, 1].map((i) => value('main', K.spin, [i, 300])));
    expect(overlap(...(spans as [Span, Span]))).toBe(true);
  });

  it('sends tiny tasks to a worker together; one that hangs or throws fails alone', async () => {
    const r = await page.evaluate(async () => {
      const { pools, makeKernel } = window.__wosSandbox;
      const pool = pools!.one!;
      const src =
        'export default (x) => { if (x === "hang") for (;;); if (x === "throw") throw new Error("bad input"); return x * 2; }';
      const k = await makeKernel(crypto.subtle, src);
      const code = (e: { code: string }): string => e.code;
      for (let i = 0; i < 3; i++) await pool.run(k, i, { timeoutMs: 10_000 }); // its time is known
      const pass = async (odd: string, at: number) => {
        const inputs: unknown[] = [...Array(300).keys()];
        inputs[at] = odd;
        const t0 = performance.now();
        const out = await Promise.all(
          inputs.map((x) => pool.run(k, x, { timeoutMs: 1000 }).catch(code)),
        );
        return { out, ms: performance.now() - t0 };
      };
      const hang = await pass('hang', 120);
      const thrown = await pass('throw', 50);
      return { hang, thrown, load: pool.load() };
    });
    const want = (at: number, code: string) =>
      [...Array(300).keys()].map((i) => (i === at ? code : i * 2));
    expect(r.hang.out).toEqual(want(120, 'KERNEL_TIMEOUT'));
    // Its run was stopped at the limit; its unfinished tasks ran again one by one, and the
    // hang alone was stopped again.
    expect(r.hang.ms).toBeGreaterThan(1990);
    expect(r.hang.ms).toBeLessThan(6000);
    expect(r.thrown.out).toEqual(want(50, 'KERNEL_ERROR'));
    expect(r.load).toEqual({ workers: 1, busy: 0, queued: 0 });
  });

  it('aborts a running task and a queued one', async () => {
    const r = await page.evaluate(async (source) => {
      const { pools, makeKernel } = window.__wosSandbox;
      const pool = pools!.main!;
      const loop = await makeKernel(crypto.subtle, source);
      const ctl = [new AbortController(), new AbortController(), new AbortController()];
      const code = (e: { code: string }): string => e.code;
      const runs = ctl.map((c) =>
        pool.run(loop, 0, { timeoutMs: 20_000, signal: c.signal }).catch(code),
      );
      await new Promise((res) => setTimeout(res, 200));
      const during = pool.load();
      ctl[2]!.abort();
      const queued = await runs[2];
      const afterQueued = pool.load();
      const t0 = performance.now();
      ctl[0]!.abort();
      ctl[1]!.abort();
      const running = await Promise.all(runs.slice(0, 2));
      const ms = performance.now() - t0;
      return { during, queued, afterQueued, running, ms, after: pool.load() };
    }, K.loop);
    expect(r).toMatchObject({
      during: { workers: 2, busy: 2, queued: 1 },
      queued: 'ABORTED',
      afterQueued: { workers: 2, busy: 2, queued: 0 },
      running: ['ABORTED', 'ABORTED'],
      after: { workers: 2, busy: 0, queued: 0 },
    });
    expect(r.ms).toBeLessThan(1000);
    expect(await value('main', 'export default () => "alive"')).toBe('alive');
  });

  it('queues FIFO, reports load, resizes both ways and closes', async () => {
    const r = await page.evaluate(async (source) => {
      const { SandboxPool, makeKernel } = window.__wosSandbox;
      const pool = new SandboxPool({ workers: 1 });
      await pool.ready;
      const k = await makeKernel(crypto.subtle, source);
      const batch = (n: number, ms = 60) =>
        Promise.all([...Array(n).keys()].map((i) => pool.run(k, [i, ms], { timeoutMs: 10_000 })));
      const out: Record<string, unknown> = {};
      const fifo = batch(4);
      out.queued = pool.load();
      out.order = await fifo;
      pool.resize(3);
      await batch(3, 1); // each new worker loads the kernel
      const wide = batch(3, 300);
      await new Promise((res) => setTimeout(res, 20));
      out.grown = pool.load();
      pool.resize(1);
      out.shrunk = pool.load();
      [out.three, out.narrow] = await Promise.all([wide, batch(2)]);
      const code = (e: { code: string }): string => e.code;
      // Donation 0: what waits fails NO_EXECUTOR at once (the requester runs it elsewhere), and
      // so does a new run; the running task ends; a worker again takes runs again.
      const running = pool.run(k, [0, 200], { timeoutMs: 10_000 }).then(() => 'done', code);
      const waiting = pool.run(k, [1, 1], { timeoutMs: 10_000 }).then(() => 'ran', code);
      await new Promise((res) => setTimeout(res, 20));
      pool.resize(0);
      const fresh = pool.run(k, [2, 1], { timeoutMs: 1000 }).then(() => 'ran', code);
      out.zero = [await waiting, await fresh, await running];
      pool.resize(1);
      out.back = await pool.run(k, [3, 1], { timeoutMs: 10_000 }).then(() => 'ran', code);
      const stuck = pool.run(k, [0, 5000], { timeoutMs: 10_000 }).catch(code);
      out.frames = document.querySelectorAll('iframe').length;
      pool.close();
      out.late = await pool.run(k, [0, 1], { timeoutMs: 1000 }).catch(code);
      out.framesAfter = document.querySelectorAll('iframe').length;
      out.stuck = await stuck;
      return out;
    }, K.spin);
    expect(r.queued).toEqual({ workers: 1, busy: 1, queued: 3 });
    const spans = r.order as Span[];
    expect(spans.map(([i]) => i)).toEqual([0, 1, 2, 3]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![1]).toBeGreaterThan(spans[i - 1]![2]);
    expect(r.grown).toEqual({ workers: 3, busy: 3, queued: 0 });
    expect(r.shrunk).toEqual({ workers: 1, busy: 3, queued: 0 });
    const [a, b, c] = r.three as Span[];
    expect(overlap(a!, b!) && overlap(b!, c!)).toBe(true); // 3 workers ran them together
    expect(overlap(...(r.narrow as [Span, Span]))).toBe(false); // then only one worker
    expect(r.zero).toEqual(['NO_EXECUTOR', 'NO_EXECUTOR', 'done']);
    expect(r.back).toBe('ran');
    expect(r).toMatchObject({ stuck: 'CLOSED', late: 'CLOSED', framesAfter: Number(r.frames) - 1 });
  });

  it('survives a kernel out of memory: SANDBOX_CRASHED, then a fresh sandbox', async () => {
    // A small heap makes the out-of-memory quick. It ends the sandbox's process, not the page's,
    // but Playwright then calls the page crashed and will not evaluate: the page reports by HTTP.
    const args = [...CHROMIUM_ARGS, '--js-flags=--max-old-space-size=256'];
    const small = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
    try {
      const p = await openNode(await small.newContext(), server.url);
      await installSandboxPool(p);
      const report = `http://127.0.0.1:${canaryPort}/report/`;
      const hog =
        'export default () => { const a = []; for (;;) a.push(new Array(1e6).fill(Math.random())); }';
      void p
        .evaluate(
          async ({ hog, spin, report }) => {
            const { SandboxPool, makeKernel } = window.__wosSandbox;
            const pool = new SandboxPool({ workers: 2 });
            await pool.ready;
            const k = (src: string) => makeKernel(crypto.subtle, src);
            const run = (src: string, input: unknown) =>
              k(src).then((kernel) => pool.run(kernel, input, { timeoutMs: 60_000 }));
            const code = (e: { code: string }): string => e.code;
            const t0 = performance.now();
            const out = await Promise.all([
              run(hog, 0).catch(code),
              run(spin, [0, 60_000]).catch(code), // a bystander in the same sandbox
              run(spin, [1, 1]), // queued behind them
            ]);
            const after = await run(spin, [2, 1]);
            const ms = performance.now() - t0;
            const r = JSON.stringify({ out, after, ms, load: pool.load() });
            await fetch(report + encodeURIComponent(r), { mode: 'no-cors' });
          },
          { hog, spin: K.spin, report },
        )
        .catch(() => {});
      await waitUntil('the page to report', () => reports.length > 0, 30_000);
      const r = JSON.parse(reports[0]!) as {
        out: unknown[];
        after: Span;
        ms: number;
        load: object;
      };
      expect(r.out.slice(0, 2)).toEqual(['SANDBOX_CRASHED', 'SANDBOX_CRASHED']);
      expect((r.out[2] as Span)[0]).toBe(1);
      expect(r.after[0]).toBe(2);
      expect(r.ms).toBeLessThan(10_000);
      expect(r.load).toEqual({ workers: 2, busy: 0, queued: 0 });
    } finally {
      await small.close();
    }
  });
});
