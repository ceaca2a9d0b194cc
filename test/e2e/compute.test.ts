import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  inviteOf,
  launchBrowser,
  nodeIds,
  openNode,
  selfId,
  startServer,
  waitUntil,
} from './fixtures.ts';

/** Compute across a 3-tab mesh in real Chromium: sandboxed workers, WebGPU, fault tolerance. */
describe('compute on a 3-tab mesh', () => {
  let server: WosServer;
  let browser: Browser;
  let tabs: Page[] = [];
  let ids: string[] = [];

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    const a = await openNode(await browser.newContext(), server.url);
    const invite = await inviteOf(a);
    tabs = [
      a,
      ...(await Promise.all([1, 2].map(async () => openNode(await browser.newContext(), invite)))),
    ];
    ids = await Promise.all(tabs.map(selfId));
    await waitUntil(
      'every tab advertises compute workers',
      async () => {
        const nodes = await a.evaluate(() => window.wos.nodes());
        return nodes.length === 3 && nodes.every((n) => (n.resources?.compute.workers ?? 0) > 0);
      },
      10_000,
    );
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('maps 64 tasks: all results correct, computed on at least 2 nodes', async () => {
    const out = await tabs[0]!.evaluate(async () => {
      const k = await window.wos.compute.kernel(
        'export default function (n) { let s = 0; for (let i = 1; i <= n; i++) s += i * i; const t = performance.now(); while (performance.now() - t < 20) {} return s; }',
      );
      const inputs = Array.from({ length: 64 }, (_, i) => i * 1000);
      const res = await window.wos.compute.map(k, inputs);
      return res.map((r) => ({ value: r.value as number, node: r.node }));
    });
    expect(out).toHaveLength(64);
    out.forEach((r, i) => {
      const n = i * 1000;
      expect(r.value).toBe((n * (n + 1) * (2 * n + 1)) / 6);
    });
    const used = new Set(out.map((r) => r.node));
    expect(used.size).toBeGreaterThanOrEqual(2);
    for (const u of used) expect(ids).toContain(u);
  });

  it('the Compute view renders tiles across the mesh with progress and per-node rows; a tab that donates 0 workers gets none', async () => {
    const [a, b] = tabs as [Page, Page];
    const short = (id: string): string =>
      `${id.split('-')[0]!.slice(0, 6)}…-${id.split('-')[1]!.slice(0, 4)}`;
    const rowsOf = async (): Promise<string[]> =>
      a.locator('table.data tbody tr th code').allInnerTexts();
    const renderOnA = async (): Promise<void> => {
      await a.getByTestId('render').click();
      await expect
        .poll(() => a.getByTestId('compute-progress').textContent(), { timeout: 30_000 })
        .toMatch(/^\s*64 \/ 64 tiles/);
      await a.getByTestId('render').waitFor(); // the run is over (Cancel is gone)
    };
    await a.getByTestId('tab-compute').click();
    await renderOnA();
    expect(
      await a.getByRole('progressbar', { name: 'Tiles computed' }).getAttribute('aria-valuenow'),
    ).toBe('64');
    const rows = await rowsOf();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const r of rows) expect(ids.map(short)).toContain(r);
    expect(rows, 'B, with a worker donated, computed tiles').toContain(short(ids[1]!));
    // Every pixel of the 512 × 512 image was painted by some tile.
    const painted = await a.evaluate(() => {
      const c = document.querySelector<HTMLCanvasElement>('canvas')!;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
      return n;
    });
    expect(painted).toBe(512 * 512);

    // Tab B sets its donation to 0 in its own Compute view: the next render leaves it out.
    const bId = ids[1]!;
    await b.getByTestId('tab-compute').click();
    const donated = await b.getByTestId('cpu-workers').inputValue();
    await b.getByTestId('cpu-workers').fill('0');
    await b.getByTestId('cpu-workers').dispatchEvent('change');
    await waitUntil(
      'A sees B donate no workers',
      async () =>
        (await a.evaluate(() => window.wos.nodes())).find((n) => n.id === bId)?.resources?.compute
          .workers === 0,
      10_000,
    );
    await renderOnA();
    expect(await rowsOf()).not.toContain(short(bId));
    await b.getByTestId('cpu-workers').fill(donated);
    await b.getByTestId('cpu-workers').dispatchEvent('change');
    await waitUntil(
      'A sees B donate again',
      async () =>
        ((await a.evaluate(() => window.wos.nodes())).find((n) => n.id === bId)?.resources?.compute
          .workers ?? 0) > 0,
      10_000,
    );
  });

  it('closing a tab mid-run still yields all 64 correct results', async () => {
    const victim = tabs[2]!;
    const victimId = ids[2]!;
    const run = tabs[0]!.evaluate(async () => {
      const k = await window.wos.compute.kernel(
        'export default function (x) { const t = performance.now(); while (performance.now() - t < 150) {} return x * 7; }',
      );
      const inputs = Array.from({ length: 64 }, (_, i) => i);
      let started = false;
      const res = await window.wos.compute.map(k, inputs, {
        onProgress: (d) => {
          if (d === 4 && !started) {
            started = true;
            window.wos.events.emit('test.progress', d);
          }
        },
      });
      return res.map((r) => ({ value: r.value as number, node: r.node }));
    });
    // Close the third tab once the run is under way (its tasks are in flight).
    await tabs[1]!.evaluate(() =>
      window.wos.events.wait('test.progress', undefined, { timeoutMs: 20_000 }),
    );
    await victim.close({ runBeforeUnload: true });
    const out = await run;
    expect(out.map((r) => r.value)).toEqual(Array.from({ length: 64 }, (_, i) => i * 7));
    tabs = tabs.slice(0, 2);
    ids = ids.slice(0, 2);
    await waitUntil(
      'the closed tab is gone',
      async () => !(await nodeIds(tabs[0]!)).includes(victimId),
      2000,
    );
    console.log(
      `tasks by node: ${JSON.stringify(out.reduce<Record<string, number>>((m, r) => ({ ...m, [r.node]: (m[r.node] ?? 0) + 1 }), {}))}`,
    );
  });

  it('a WGSL kernel on the SwiftShader adapter returns the same numbers as the CPU version', async () => {
    const res = await tabs[0]!.evaluate(async () => {
      const wgsl = `
        @group(0) @binding(0) var<storage, read> a: array<f32>;
        @group(0) @binding(1) var<storage, read> b: array<f32>;
        @group(0) @binding(2) var<storage, read_write> out: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) id: vec3<u32>) {
          let i = id.x;
          if (i < arrayLength(&a)) { out[i] = a[i] * b[i] + sqrt(a[i]); }
        }`;
      const cpu =
        'export default ({ a, b }) => { const out = new Float32Array(a.length); for (let i = 0; i < a.length; i++) out[i] = Math.fround(Math.fround(a[i] * b[i]) + Math.fround(Math.sqrt(a[i]))); return out; }';
      const k = await window.wos.compute.kernel({
        kind: 'wgsl',
        source: wgsl,
        entryPoint: 'main',
        workgroupSize: 64,
        size: 'a',
        bindings: [
          { binding: 0, name: 'a', type: 'storage-read', element: 'f32' },
          { binding: 1, name: 'b', type: 'storage-read', element: 'f32' },
          { binding: 2, name: 'out', type: 'storage', element: 'f32' },
        ],
        fallback: cpu,
      });
      const n = 10_000;
      const a = Float32Array.from({ length: n }, (_, i) => i * 0.5);
      const b = Float32Array.from({ length: n }, (_, i) => (n - i) * 0.25);
      const gpuLease = await window.wos.use('gpu');
      const gpu = await gpuLease.run(k, { a, b });
      await gpuLease.release();
      const cpuK = await window.wos.compute.kernel(cpu);
      const [c] = await window.wos.compute.map(cpuK, [{ a, b }]);
      const g = gpu.value as Float32Array;
      const cc = c!.value as Float32Array;
      let maxRel = 0;
      for (let i = 0; i < n; i++)
        maxRel = Math.max(maxRel, Math.abs(g[i]! - cc[i]!) / Math.max(1, Math.abs(cc[i]!)));
      return { n: g.length, maxRel, sample: [g[1], cc[1], g[9999], cc[9999]], gpuNode: gpu.node };
    });
    expect(res.n).toBe(10_000);
    expect(res.maxRel).toBeLessThan(1e-6);
    expect(ids).toContain(res.gpuNode);
  });

  it('a foreign kernel that tries fetch, indexedDB or WebSocket gets a clear sandbox error; host data is intact', async () => {
    const [a, b] = tabs as [Page, Page];
    await b.evaluate(async () => {
      const req = indexedDB.open('host-secret', 1);
      req.onupgradeneeded = () => req.result.createObjectStore('s');
      const db = await new Promise<IDBDatabase>((r) => (req.onsuccess = () => r(req.result)));
      await new Promise((r) => {
        const tx = db.transaction('s', 'readwrite');
        tx.objectStore('s').put('marker-42', 'k');
        tx.oncomplete = r;
      });
      db.close();
    });
    const attempts = [
      'export default async () => { await fetch(location.origin); return "fetched"; }',
      'export default async () => { indexedDB.open("host-secret"); return "opened"; }',
      'export default async () => { new WebSocket("ws://127.0.0.1:1/"); return "connected"; }',
    ];
    const errors = await a.evaluate(async (srcs) => {
      const out: { code?: string; message: string }[] = [];
      for (const src of srcs) {
        const k = await window.wos.compute.kernel(src);
        // Force it onto the other tab, where it is foreign code.
        const lease = await window.wos.use('cpu', 1);
        const others = window.wos.nodes().filter((n) => !n.self);
        void others;
        try {
          const r = await window.wos.compute.map(k, [0, 1, 2, 3, 4, 5]);
          out.push({ message: `no error: ${JSON.stringify(r.map((x) => x.value))}` });
        } catch (e) {
          out.push({ code: (e as { code?: string }).code, message: (e as Error).message });
        }
        await lease.release();
      }
      return out;
    }, attempts);
    for (const e of errors) {
      expect(e.code).toBe('SANDBOX_VIOLATION');
      expect(e.message).toMatch(/sandbox/i);
    }
    const marker = await b.evaluate(async () => {
      const req = indexedDB.open('host-secret', 1);
      const db = await new Promise<IDBDatabase>((r) => (req.onsuccess = () => r(req.result)));
      const v = await new Promise((r) => {
        const g = db.transaction('s').objectStore('s').get('k');
        g.onsuccess = () => r(g.result);
      });
      db.close();
      return v;
    });
    expect(marker).toBe('marker-42');
  });

  it('an endless loop is killed at its timeout and the worker pools recover', async () => {
    const res = await tabs[0]!.evaluate(async () => {
      const loop = await window.wos.compute.kernel('export default () => { for (;;) {} }');
      const t0 = performance.now();
      let err: { code?: string; message: string } | undefined;
      try {
        await window.wos.compute.map(loop, [1], { timeoutMs: 500, maxAttempts: 1 });
      } catch (e) {
        err = { code: (e as { code?: string }).code, message: (e as Error).message };
      }
      const killedAfter = performance.now() - t0;
      const ok = await window.wos.compute.kernel('export default (x) => x + 1');
      const after = await window.wos.compute.map(
        ok,
        Array.from({ length: 32 }, (_, i) => i),
      );
      return {
        err,
        killedAfter,
        after: after.map((r) => r.value),
        nodes: [...new Set(after.map((r) => r.node))].length,
      };
    });
    expect(res.err?.code).toBe('KERNEL_TIMEOUT');
    expect(res.killedAfter).toBeLessThan(3000);
    expect(res.after).toEqual(Array.from({ length: 32 }, (_, i) => i + 1));
  });

  it('rejects a malformed task message with a clear error', async () => {
    const [a] = tabs as [Page];
    const peer = ids[1]!;
    const r = await a.evaluate(async (p) => {
      const { node } = await window.__wosApp.started;
      const bad = [
        { k: 'not-a-kernel-id', timeoutMs: 100, items: [] },
        { k: `k-${'0'.repeat(64)}`, timeoutMs: -5, items: [] },
        { k: `k-${'0'.repeat(64)}`, timeoutMs: 100, items: 'lots' },
        // Past the batch limit: a node never queues more than 256 tasks from one message.
        { k: `k-${'0'.repeat(64)}`, timeoutMs: 100, items: new Array(100_000).fill(0) },
      ];
      const out: { code?: string; message: string }[] = [];
      for (const body of bad) {
        try {
          await node.bus.request(p, 'cx.run', body, { timeoutMs: 3000 });
          out.push({ message: 'accepted' });
        } catch (e) {
          out.push({ code: (e as { code?: string }).code, message: (e as Error).message });
        }
      }
      return out;
    }, peer);
    for (const e of r) {
      expect(e.code).toBe('INVALID_MESSAGE');
      expect(e.message).toMatch(/'cx.run' body/);
    }
  });
});
