import { runLocalComputeBench, type ComputeLocalResult } from './compute-local.ts';
import { donateWorkers, pageKernel, SPIN_SOURCE, timedMap } from './lib/compute-page.ts';
import type { Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Local compute on ONE tab (no peers), per run:
 *
 * - **Round trip** (bench/compute-local.ts): a no-op task through a sandbox pool (page → worker
 *   in the opaque-origin iframe → page) against the physical limit, a `postMessage` echo to a
 *   plain dedicated worker of the same page, and the floor for the sandbox, the same echo to a
 *   bare worker in an identical sandbox iframe. Interleaved in blocks of 100.
 * - **Parallel efficiency through the product**: the tab donates all cores
 *   (`__wosApp.donate({ cpuWorkers: hardwareConcurrency })`, waited until the pool has resized
 *   and the registry advertises it), then `wos.compute.map` of `TASKS_PER_WORKER × workers`
 *   tasks that each spin 50 ms of wall-clock time. Efficiency = ideal (tasks × 50 ms / workers)
 *   / actual, in %. Goal ≥ 90 %. The pool-level efficiency of compute-local.ts (2 × cores tasks straight
 *   into a `SandboxPool`, ideal from a measured single task) is kept as a comparison.
 */
export interface ComputeLocalRun {
  poolUs: number;
  rawUs: number;
  sandboxRawUs: number;
  ratio: number;
  mapMs: number;
  mapIdealMs: number;
  mapEfficiency: number;
  poolEfficiency: number;
}

export interface ComputeLocalSuiteResult {
  name: 'compute-local';
  cores: number;
  workers: number;
  tasks: number;
  taskMs: number;
  roundTripsPerRun: number;
  /** Trips per timing sample (1: the page is cross-origin isolated, 5 µs timer). */
  batch: number;
  pool: Stat;
  raw: Stat;
  sandboxRaw: Stat;
  ratio: Stat;
  sandboxRatio: Stat;
  mapEfficiency: Stat & { goal: string };
  mapMs: Stat;
  poolEfficiency: Stat;
  details: ComputeLocalRun[];
  /** compute-local.ts's own result, per run. */
  perRun: ComputeLocalResult[];
}

const TASK_MS = 50;
const TASKS_PER_WORKER = 10;
const ROUND_TRIPS = 1000;

export async function runComputeLocalSuite(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<ComputeLocalSuiteResult> {
  const tab = await h.openTab(h.url);
  const page = tab.page;
  const cores = await page.evaluate(() => navigator.hardwareConcurrency || 1);
  await donateWorkers(page, cores);
  const spin = await pageKernel(page, SPIN_SOURCE);
  const tasks = TASKS_PER_WORKER * cores;
  const inputs = Array.from({ length: tasks }, () => TASK_MS);
  // Warm-up: the kernel in every worker, the JIT on the dispatch path.
  await timedMap(page, spin, inputs.slice(0, 2 * cores), 'none');
  const details: ComputeLocalRun[] = [];
  const rawRuns: ComputeLocalResult[] = [];
  for (let r = 0; r < runs; r++) {
    const local = await runLocalComputeBench(page, {
      roundTrips: ROUND_TRIPS,
      taskMs: TASK_MS,
      parallelRounds: 1,
    });
    const map = await timedMap(page, spin, inputs, 'none');
    const workersUsed = Object.keys(map.byNode).length;
    if (workersUsed !== 1 || map.byNode[tab.id] !== tasks) {
      throw new Error(`map ran on ${JSON.stringify(map.byNode)}, not only on the tab itself`);
    }
    const ideal = (tasks * TASK_MS) / cores;
    const run: ComputeLocalRun = {
      poolUs: local.pool_us,
      rawUs: local.raw_us,
      sandboxRawUs: local.sandbox_raw_us,
      ratio: local.ratio,
      mapMs: map.ms,
      mapIdealMs: ideal,
      mapEfficiency: ideal / map.ms,
      poolEfficiency: local.parallel.efficiency,
    };
    rawRuns.push(local);
    details.push(run);
    log(
      `compute-local ${r + 1}/${runs}: pool ${run.poolUs.toFixed(0)} µs, raw postMessage ` +
        `${run.rawUs.toFixed(0)} µs (${run.ratio.toFixed(2)}×), bare sandbox worker ` +
        `${run.sandboxRawUs.toFixed(0)} µs; map ${tasks} × ${TASK_MS} ms on ${cores} workers ` +
        `${run.mapMs.toFixed(0)} ms (ideal ${ideal.toFixed(0)}): efficiency ` +
        `${(run.mapEfficiency * 100).toFixed(1)} % (pool alone ${(run.poolEfficiency * 100).toFixed(1)} %)`,
    );
  }
  const s = (unit: string, pick: (r: ComputeLocalRun) => number, digits = 3): Stat =>
    stat(unit, details.map(pick), digits);
  return {
    name: 'compute-local',
    cores,
    workers: cores,
    tasks,
    taskMs: TASK_MS,
    roundTripsPerRun: ROUND_TRIPS,
    batch: rawRuns[0]?.batch ?? 0,
    pool: s('µs', (r) => r.poolUs, 1),
    raw: s('µs', (r) => r.rawUs, 1),
    sandboxRaw: s('µs', (r) => r.sandboxRawUs, 1),
    ratio: s('×', (r) => r.ratio, 2),
    sandboxRatio: stat(
      '×',
      rawRuns.map((l) => l.sandbox_ratio),
      2,
    ),
    mapEfficiency: { ...s('%', (r) => r.mapEfficiency * 100, 1), goal: '≥ 90 %' },
    mapMs: s('ms', (r) => r.mapMs, 0),
    poolEfficiency: s('%', (r) => r.poolEfficiency * 100, 1),
    details,
    perRun: rawRuns,
  };
}
