import type { Page } from 'playwright-core';
import type { makeKernel } from '../src/core/compute/kernel.ts';
import type { SandboxPool } from '../src/platform/compute/sandbox-pool.ts';
import type { SandboxFrame } from '../src/platform/compute/sandbox/sandbox-frame.ts';
import { installBundle, reexport } from './lib/page-bundle.ts';

/**
 * Local compute: a no-op task's round trip through the sandbox pool (page → worker in the
 * opaque-origin iframe → page, with kernel dispatch and reply checks) against the physical
 * limit, a raw postMessage echo to a plain dedicated worker of the same page; and the pool's
 * parallel efficiency: 2 × cores tasks of 50 ms CPU-bound work on `hardwareConcurrency`
 * workers against the time one such task takes (efficiency = ideal / actual).
 *
 * Until the app exposes the pool, `installSandboxPool` builds it with Vite (minified, like
 * `vite build`) and injects it into the page.
 */
export interface SandboxGlobals {
  SandboxPool: typeof SandboxPool;
  SandboxFrame: typeof SandboxFrame;
  makeKernel: typeof makeKernel;
  /** Pools a test or benchmark keeps in the page, by name. */
  pools?: Record<string, SandboxPool>;
}

declare global {
  interface Window {
    __wosSandbox: SandboxGlobals;
  }
}

export interface ComputeLocalResult {
  name: 'compute-local';
  /** Median no-op round trip through the pool, µs. */
  pool_us: number;
  /** Median postMessage echo to a plain worker, µs. */
  raw_us: number;
  ratio: number;
  /**
   * Median echo to a bare worker in an identical sandbox iframe, µs: the floor for the pool.
   * Chromium puts the opaque-origin iframe in its own renderer process (IsolateSandboxedIframes),
   * so every task message crosses processes.
   */
  sandbox_raw_us: number;
  /** pool_us / sandbox_raw_us: what the pool's own code costs. */
  sandbox_ratio: number;
  /** Round trips measured for each. */
  runs: number;
  /** Round trips per timing sample (1 when the page has a fine timer, else more). */
  batch: number;
  parallel: {
    workers: number;
    tasks: number;
    task_ms: number;
    single_ms: number;
    actual_ms: number;
    ideal_ms: number;
    efficiency: number;
  };
}

const SANDBOX_EXPORTS = [
  reexport('src/platform/compute/sandbox-pool.ts', 'SandboxPool'),
  reexport('src/platform/compute/sandbox/sandbox-frame.ts', 'SandboxFrame'),
  reexport('src/core/compute/kernel.ts', 'makeKernel'),
];

/**
 * Makes `window.__wosSandbox` (`SandboxPool`, `SandboxFrame`, `makeKernel`, built with Vite)
 * available in `page` (already on the app's origin).
 */
export function installSandboxPool(page: Page): Promise<void> {
  return installBundle(page, '__wosSandbox', SANDBOX_EXPORTS);
}

export interface ComputeLocalOptions {
  roundTrips?: number;
  taskMs?: number;
  /** Parallel rounds; the median is reported. */
  parallelRounds?: number;
}

export async function runLocalComputeBench(
  page: Page,
  { roundTrips = 2000, taskMs = 50, parallelRounds = 3 }: ComputeLocalOptions = {},
): Promise<ComputeLocalResult> {
  await page.evaluate('globalThis.__name ??= (f) => f');
  if (!(await page.evaluate(() => window.__wosSandbox !== undefined))) {
    await installSandboxPool(page);
  }
  return page.evaluate(inPage, { roundTrips, taskMs, parallelRounds });
}

async function inPage(o: Required<ComputeLocalOptions>): Promise<ComputeLocalResult> {
  const { SandboxPool, makeKernel } = window.__wosSandbox;
  const med = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const cores = navigator.hardwareConcurrency || 1;
  const pool = new SandboxPool({ workers: cores });
  await pool.ready;
  const raw = new Worker(
    URL.createObjectURL(new Blob(['onmessage = (e) => postMessage(e.data);'])),
  );
  const rawTrip = (): Promise<unknown> =>
    new Promise((r) => {
      raw.onmessage = r;
      raw.postMessage(0);
    });
  const echo = new window.__wosSandbox.SandboxFrame({
    document,
    workerSource:
      'onmessage = (e) => { const p = e.ports[0]; p.onmessage = (m) => p.postMessage(m.data); };',
    allowWasm: false,
    startTimeoutMs: 10_000,
    onWorkerError: () => {},
    onLost: () => {},
  });
  await echo.ready;
  const echoPort = echo.spawn(1, false);
  const sandboxTrip = (): Promise<unknown> =>
    new Promise((r) => {
      echoPort.onmessage = r;
      echoPort.postMessage(0);
    });
  const noop = await makeKernel(crypto.subtle, 'export default (x) => x;');
  const poolTrip = (): Promise<unknown> => pool.run(noop, 0, { timeoutMs: 10_000 });
  // A coarse timer (no cross-origin isolation: 100 µs) needs several trips per sample.
  const batch = crossOriginIsolated ? 1 : 20;
  const sample = async (trip: () => Promise<unknown>, out: number[]): Promise<void> => {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await trip();
    out.push(((performance.now() - t0) * 1000) / batch);
  };
  for (let i = 0; i < 200; i++) await Promise.all([poolTrip(), rawTrip(), sandboxTrip()]);
  const poolUs: number[] = [];
  const rawUs: number[] = [];
  const sandboxUs: number[] = [];
  // Interleaved blocks, so all see the same background.
  for (let done = 0; done < o.roundTrips; done += 100) {
    for (let i = 0; i < 100; i += batch) await sample(poolTrip, poolUs);
    for (let i = 0; i < 100; i += batch) await sample(rawTrip, rawUs);
    for (let i = 0; i < 100; i += batch) await sample(sandboxTrip, sandboxUs);
  }
  raw.terminate();
  echo.close();

  const busy = await makeKernel(
    crypto.subtle,
    'export default (ms) => { const t = performance.now(); let n = 0; while (performance.now() - t < ms) n++; return n; };',
  );
  const task = (): Promise<unknown> => pool.run(busy, o.taskMs, { timeoutMs: 60_000 });
  await Promise.all(Array.from({ length: cores }, task)); // load the kernel in every worker
  const singles: number[] = [];
  const actuals: number[] = [];
  const tasks = 2 * cores;
  for (let r = 0; r < o.parallelRounds; r++) {
    let t0 = performance.now();
    await task();
    singles.push(performance.now() - t0);
    t0 = performance.now();
    await Promise.all(Array.from({ length: tasks }, task));
    actuals.push(performance.now() - t0);
  }
  pool.close();
  const single = med(singles);
  const actual = med(actuals);
  const ideal = (tasks / cores) * single;
  const r3 = (x: number): number => Number(x.toFixed(3));
  return {
    name: 'compute-local',
    pool_us: r3(med(poolUs)),
    raw_us: r3(med(rawUs)),
    ratio: r3(med(poolUs) / med(rawUs)),
    sandbox_raw_us: r3(med(sandboxUs)),
    sandbox_ratio: r3(med(poolUs) / med(sandboxUs)),
    runs: o.roundTrips,
    batch,
    parallel: {
      workers: cores,
      tasks,
      task_ms: o.taskMs,
      single_ms: r3(single),
      actual_ms: r3(actual),
      ideal_ms: r3(ideal),
      efficiency: r3(ideal / actual),
    },
  };
}
