import { NOOP_SOURCE, pageKernel, timedMap } from './lib/compute-page.ts';
import type { Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Tiny-task throughput: a mesh of 3 tabs (separate contexts, default CPU donation: half the
 * cores each), `wos.compute.map` of the no-op `export default (x) => x` over `tasks` numbers
 * from tab A, timed in the page from the call to the last result (the lease, the adaptive
 * batching, every `cx.run` and the result checks included). Goal ≥ 5,000 tasks/s. Reports how
 * many tasks each node ran. The physical limit here is the CPU: every tab, its sandbox workers
 * and the browser share the machine's cores.
 */
export interface ThroughputRun {
  ms: number;
  tasksPerS: number;
  /** Tasks per node id. */
  byNode: Record<string, number>;
}

export interface ComputeThroughputResult {
  name: 'compute-throughput';
  tasks: number;
  tabs: number;
  /** Node ids: [A (the caller), B, C]. */
  nodes: string[];
  /** Advertised CPU workers per node id. */
  workers: Record<string, number>;
  tasksPerS: Stat & { goal: string };
  /** Share of the tasks run by the caller itself, per run. */
  localShare: Stat;
  details: ThroughputRun[];
}

export async function runComputeThroughputBench(
  h: Harness,
  runs: number,
  tasks: number,
  log: (line: string) => void,
): Promise<ComputeThroughputResult> {
  const a = await h.openTab(h.url);
  const invite = await h.invite();
  const b = await h.openTab(invite);
  const c = await h.openTab(invite);
  await h.settle(15_000, 3000);
  const nodes = [a.id, b.id, c.id];
  const workers = await a.page.evaluate((ids) => {
    const view = window.__wosApp.started.then((rt) => rt.node.registry.view());
    return view.then((v) =>
      Object.fromEntries(ids.map((id) => [id, v.get(id)?.resources.compute.workers ?? -1])),
    );
  }, nodes);
  const k = await pageKernel(a.page, NOOP_SOURCE);
  const inputs = Array.from({ length: tasks }, (_, i) => i);
  // Warm-up: every node fetches the kernel and loads it; JIT on the dispatch path.
  await timedMap(a.page, k, inputs.slice(0, Math.min(tasks, 5000)), 'echo');
  const details: ThroughputRun[] = [];
  const short = (id: string): string =>
    id === a.id ? 'A' : id === b.id ? 'B' : id === c.id ? 'C' : id;
  for (let r = 0; r < runs; r++) {
    const m = await timedMap(a.page, k, inputs, 'echo');
    const run = { ms: m.ms, tasksPerS: tasks / (m.ms / 1000), byNode: m.byNode };
    details.push(run);
    log(
      `compute-throughput ${r + 1}/${runs}: ${tasks} tasks in ${run.ms.toFixed(0)} ms = ` +
        `${run.tasksPerS.toFixed(0)} tasks/s; ran ${Object.entries(m.byNode)
          .map(([id, n]) => `${short(id)} ${n}`)
          .join(', ')}`,
    );
  }
  return {
    name: 'compute-throughput',
    tasks,
    tabs: 3,
    nodes,
    workers,
    tasksPerS: {
      ...stat(
        'tasks/s',
        details.map((d) => d.tasksPerS),
        0,
      ),
      goal: '≥ 5000',
    },
    localShare: stat(
      '%',
      details.map((d) => ((d.byNode[a.id] ?? 0) / tasks) * 100),
      1,
    ),
    details,
  };
}
