import type { Page } from 'playwright-core';
import type { Kernel } from '../../src/core/compute/kernel.ts';

/**
 * The compute side of the compute benchmarks, run inside a tab on its own runtime
 * (`await window.__wosApp.started`: `compute` is its `ComputeClient`, `executors.pool` its
 * sandbox pool), timed with `performance.now()`.
 */

export const NOOP_SOURCE = 'export default (x) => x;';
/** Spins for `ms` of wall-clock time (what compute-local.ts uses): CPU-bound, fixed duration. */
export const SPIN_SOURCE =
  'export default (ms) => { const t = performance.now(); let n = 0; while (performance.now() - t < ms) n++; return n; };';

/** Registers `source` as a kernel on the page's node; returns it (a plain `{ id, spec }`). */
export function pageKernel(page: Page, source: string): Promise<Kernel> {
  return page.evaluate(async (src) => {
    const k = await (await window.__wosApp.started).compute.kernel(src);
    return { id: k.id, spec: k.spec };
  }, source);
}

/**
 * Sets the tab's CPU donation to `workers` (as the Compute view does) and waits until the pool
 * has them and the coordinator's registry advertises them (the scheduler reads the registry).
 */
export async function donateWorkers(
  page: Page,
  workers: number,
  timeoutMs = 15_000,
): Promise<void> {
  await page.evaluate(
    async ({ workers, timeoutMs }) => {
      const app = window.__wosApp;
      await app.donate({ cpuWorkers: workers });
      const rt = await app.started;
      await rt.executors.pool.ready;
      const t0 = performance.now();
      for (;;) {
        const advertised = rt.node.registry.view().get(rt.node.id)?.resources.compute.workers;
        if (rt.executors.pool.load().workers === workers && advertised === workers) return;
        if (performance.now() - t0 > timeoutMs) {
          throw new Error(
            `donation of ${workers} workers not in effect after ${timeoutMs} ms ` +
              `(pool ${rt.executors.pool.load().workers}, advertised ${advertised})`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    { workers, timeoutMs },
  );
}

/**
 * `n` sequential no-op tasks from this page forced onto `peer` (`runJobs` with one slot on it,
 * batch 1: each task is one `cx.run` request and its reply); round trips in ms.
 */
export function remoteTasks(page: Page, k: Kernel, peer: string, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ k, peer, n }) => {
      const compute = (await window.__wosApp.started).compute;
      const slots = [{ node: peer, workers: 1 }];
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const job = { index: 0, input: i, excludeDevices: new Set<string>(), attempts: 0 };
        const t = performance.now();
        const res = await compute.runJobs(k, [job], slots, 'cpu', { batch: 1, timeoutMs: 10_000 });
        out.push(performance.now() - t);
        const r = res.get(0);
        if (r?.node !== peer || r.value !== i) {
          throw new Error(`task ran on ${r?.node} with ${String(r?.value)}, not on ${peer}`);
        }
      }
      return out;
    },
    { k, peer, n },
  );
}

/**
 * `n` sequential no-op tasks straight into this page's own sandbox pool; round trips in ms.
 * With `idleMs`, the page waits that long (a timer: the threads may sleep) before each task,
 * as between the tasks of a remote round trip.
 */
export function poolTasks(page: Page, k: Kernel, n: number, idleMs = 0): Promise<number[]> {
  return page.evaluate(
    async ({ k, n, idleMs }) => {
      const pool = (await window.__wosApp.started).executors.pool;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        if (idleMs > 0) await new Promise((r) => setTimeout(r, idleMs));
        const t = performance.now();
        await pool.run(k, i, { timeoutMs: 10_000 });
        out.push(performance.now() - t);
      }
      return out;
    },
    { k, n, idleMs },
  );
}

export interface MapRun {
  ms: number;
  /** Tasks per node id. */
  byNode: Record<string, number>;
}

/**
 * `wos.compute.map(k, inputs)` on this page, timed; checks every result. `batch` fixes the
 * tasks per request (default: the dispatcher's adaptive batching, as an application gets).
 */
export function timedMap(
  page: Page,
  k: Kernel,
  inputs: number[],
  check: 'echo' | 'none',
  batch?: number,
): Promise<MapRun> {
  return page.evaluate(
    async ({ k, inputs, check, batch }) => {
      const t0 = performance.now();
      const res = await window.wos.compute.map(k, inputs, {
        timeoutMs: 30_000,
        ...(batch ? { batch } : {}),
      });
      const ms = performance.now() - t0;
      const byNode: Record<string, number> = {};
      res.forEach((r, i) => {
        byNode[r.node] = (byNode[r.node] ?? 0) + 1;
        if (check === 'echo' && r.value !== inputs[i]) {
          throw new Error(`result ${i} is ${String(r.value)}, not ${inputs[i]}`);
        }
      });
      return { ms, byNode };
    },
    { k, inputs, check, batch },
  );
}

/**
 * `n` sequential bus requests from this page to `peer`'s `cx.kernel` handler for kernel `k`
 * (which `peer` knows): a compute request through the bus, with validation and a handler,
 * but no sandbox; round trips in ms.
 */
export function kernelRequests(page: Page, peer: string, k: Kernel, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ peer, id, n }) => {
      const node = (await window.__wosApp.started).node;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await node.bus.request(peer, 'cx.kernel', { k: id }, { timeoutMs: 2000 });
        out.push(performance.now() - t);
      }
      return out;
    },
    { peer, id: k.id, n },
  );
}

/**
 * Times every `run` call of this page's sandbox pool from now on (call to settle, ms), so the
 * pool's share of a remote task can be read with `takePoolTimes`.
 */
export function timePool(page: Page): Promise<void> {
  return page.evaluate(async () => {
    const pool = (await window.__wosApp.started).executors.pool;
    const w = window as unknown as { __poolTimes?: number[] };
    if (w.__poolTimes) return;
    const times: number[] = (w.__poolTimes = []);
    const run = pool.run.bind(pool);
    const on = window as unknown as { __benchTrace?: boolean };
    pool.run = (...args) => {
      if (!on.__benchTrace) return run(...args);
      const t = performance.now();
      const p = run(...args);
      void p.finally(() => times.push(performance.now() - t)).catch(() => {});
      return p;
    };
  });
}

/**
 * Turns this page's `timePool` and `traceLink` recording on or off: off, the wrappers only
 * pass calls through, so the headline round trips are measured without the marks' own cost.
 */
export function setTracing(page: Page, on: boolean): Promise<void> {
  return page.evaluate((on) => {
    (window as unknown as { __benchTrace?: boolean }).__benchTrace = on;
  }, on);
}

export function takePoolTimes(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __poolTimes?: number[] };
    return (w.__poolTimes ?? []).splice(0);
  });
}

/**
 * Records, on this page's link to `peer`, when each `cx.run` request and reply passes (sent
 * or received), so a remote task splits into the caller's own time, the time on the wire and
 * at the peer, and the peer's handling time. Read (and reset) with `takeLinkTimes`.
 */
export function traceLink(page: Page, peer: string): Promise<void> {
  return page.evaluate(async (peer) => {
    const bus = (await window.__wosApp.started).node.bus;
    const link = bus.link(peer);
    const w = window as unknown as { __linkTimes?: Record<string, number> };
    if (!link || w.__linkTimes) return;
    const times: Record<string, number> = (w.__linkTimes = {});
    type P = Parameters<typeof link.send>[0];
    const flag = window as unknown as { __benchTrace?: boolean };
    const mark = (p: P, dir: string): void => {
      if (flag.__benchTrace && p.env.t === 'cx.run')
        times[`${dir}:${p.env.re ?? p.env.id}`] = performance.now();
    };
    const send = link.send.bind(link);
    link.send = (p) => {
      mark(p, 'out');
      return send(p);
    };
    const on = link.onPacket;
    link.onPacket = (p) => {
      mark(p, 'in');
      on?.(p);
    };
  }, peer);
}

/** Per traced request: (first mark → second mark) in ms, in/out order as this page saw them. */
export function takeLinkTimes(page: Page): Promise<number[]> {
  return page.evaluate(() => {
    const w = window as unknown as { __linkTimes?: Record<string, number> };
    const t = w.__linkTimes ?? {};
    const out: number[] = [];
    for (const key of Object.keys(t)) {
      if (!key.startsWith('out:')) continue;
      const id = key.slice(4);
      const a = t[`out:${id}`]!;
      const b = t[`in:${id}`];
      if (b !== undefined) out.push(Math.abs(b - a));
    }
    for (const k of Object.keys(t)) delete t[k];
    return out;
  });
}

/**
 * Registers `bench.pool` on this page's bus: a handler that answers `{}` after running `k` in
 * its own sandbox pool (no compute layer, no kernel lookup, no packing). Accepts any body.
 */
export function installPoolEcho(page: Page, k: Kernel): Promise<void> {
  return page.evaluate(async (k) => {
    const rt = await window.__wosApp.started;
    const w = window as unknown as { __poolEcho?: boolean };
    if (w.__poolEcho) return;
    w.__poolEcho = true;
    // A minimal valibot-compatible schema that accepts anything (the page has no valibot).
    const anything = {
      kind: 'schema',
      type: 'unknown',
      async: false,
      '~run': (dataset: { typed?: boolean }) => ((dataset.typed = true), dataset),
    } as unknown as Parameters<typeof rt.node.bus.handle>[1];
    rt.node.bus.handle('bench.pool', anything, async () => {
      await rt.executors.pool.run(k, 0, { timeoutMs: 10_000 });
      return {};
    });
  }, k);
}

/** `n` sequential bus requests to `peer`'s `bench.pool` handler; round trips in ms. */
export function poolEchoRequests(page: Page, peer: string, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ peer, n }) => {
      const node = (await window.__wosApp.started).node;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await node.bus.request(peer, 'bench.pool', {}, { timeoutMs: 2000 });
        out.push(performance.now() - t);
      }
      return out;
    },
    { peer, n },
  );
}

/**
 * `n` sequential `cx.run` requests for kernel `k` (which `peer` knows) sent by `bus.request`
 * itself, one no-op item each: a remote task without the dispatcher; round trips in ms.
 */
export function runRequests(page: Page, peer: string, k: Kernel, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ peer, id, n }) => {
      const node = (await window.__wosApp.started).node;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const body = { k: id, timeoutMs: 10_000, items: [i] };
        await node.bus.request(peer, 'cx.run', body, { timeoutMs: 20_000 });
        out.push(performance.now() - t);
      }
      return out;
    },
    { peer, id: k.id, n },
  );
}
