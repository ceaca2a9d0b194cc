import os from 'node:os';
import type { Page } from 'playwright-core';
import { DIST } from '../test/e2e/fixtures.ts';
import { busPings } from './lib/bus-page.ts';
import { NOOP_SOURCE, pageKernel, remoteTasks, timedMap } from './lib/compute-page.ts';
import { profilePages, selfTimes, sourceMapper, type CpuProfile } from './lib/cpu-profile.ts';
import type { Harness } from './lib/harness.ts';
import { cpuSnapshot, cpuUse, type CpuUse } from './lib/proc-cpu.ts';
import type { Kernel } from '../src/core/compute/kernel.ts';

/**
 * Diagnostic (not in the default set): where compute spends its time, on a 3-tab mesh (A, B, C,
 * default donation). Every phase records the CPU seconds of all the bench's Chromium processes
 * by type (/proc) and how busy the whole machine was (other sessions included):
 *
 * - `remote-rtt`: 300 sequential no-op tasks A → B (runJobs forced onto B, batch 1), CDP
 *   profiles of A's and B's main threads; `bus-ping`: 300 bus pings A → B, same. The
 *   difference is what compute adds to a bus round trip.
 * - Throughput ceilings for `tasks` no-op tasks: B's sandbox pool alone (every task started at
 *   once, `pool.run`), `runJobs` on A's own slot, `runJobs` forced onto B, and
 *   `wos.compute.map` over the mesh (profiled), and the same map with a fixed batch of 16 and
 *   of 64 tasks per request instead of the adaptive batch.
 */
export interface ComputePhase {
  phase: string;
  units: number;
  wallMs: number;
  perS: number;
  cpu: CpuUse;
  /** Chromium CPU per unit across every process, µs. */
  cpuPerUnitUs: number;
  /** Main-thread busy time per unit in the profiled pages (by page), µs. */
  mainThreadPerUnitUs?: Record<string, number>;
  topFunctions?: Record<string, { fn: string; where: string; ms: number }[]>;
  byNode?: Record<string, number>;
  /** Messages each tab's bus received (local deliveries included) during the phase. */
  busReceived: Record<string, number>;
}

export interface ComputeProfileResult {
  name: 'compute-profile';
  /** What the coordinator grants `map` for `tasks` inputs (it asks for min(tasks, 1024) slots). */
  mapLease: { node: string; workers: number }[];
  phases: ComputePhase[];
}

const IDLE = new Set(['(idle)', '(program)']);

export async function runComputeProfile(
  h: Harness,
  tasks: number,
  log: (line: string) => void,
): Promise<ComputeProfileResult> {
  const a = await h.openTab(h.url);
  const invite = await h.invite();
  const b = await h.openTab(invite);
  const c = await h.openTab(invite);
  await h.settle(15_000, 3000);
  const names = new Map([
    [a.id, 'A'],
    [b.id, 'B'],
    [c.id, 'C'],
  ]);
  const mapper = await sourceMapper(DIST);
  const k = await pageKernel(a.page, NOOP_SOURCE);
  const inputs = Array.from({ length: tasks }, (_, i) => i);
  // Warm-up: every node has the kernel; JIT.
  await timedMap(a.page, k, inputs.slice(0, 5000), 'echo');
  await remoteTasks(a.page, k, b.id, 100);
  await busPings(a.page, b.id, 100);
  await poolFlood(b.page, k, 1000);
  const mapLease = (
    await a.page.evaluate(
      async (n) => {
        const compute = (await window.__wosApp.started).compute;
        const grant = await compute.lease('cpu', n);
        await compute.release(grant.id);
        return grant.slots;
      },
      Math.min(tasks, 1024),
    )
  ).map((s) => ({ node: names.get(s.node) ?? s.node, workers: s.workers }));
  log(`map's lease for ${tasks} tasks: ${JSON.stringify(mapLease)}`);
  const phases: ComputePhase[] = [];
  const phase = async (
    name: string,
    units: number,
    work: () => Promise<{ ms: number; byNode?: Record<string, number> }>,
    profile: Page[] = [],
  ): Promise<void> => {
    const received = (): Promise<number[]> =>
      Promise.all(
        [a, b, c].map((t) =>
          t.page.evaluate(async () => (await window.__wosApp.started).node.bus.stats.received),
        ),
      );
    const got0 = await received();
    const before = cpuSnapshot();
    let out: { ms: number; byNode?: Record<string, number> } = { ms: 0 };
    const profiles: CpuProfile[] =
      profile.length > 0
        ? await profilePages(profile, async () => void (out = await work()))
        : (await work().then((o) => void (out = o)), []);
    const cpu = cpuUse(before, cpuSnapshot(), os.cpus().length);
    const got1 = await received();
    const p: ComputePhase = {
      phase: name,
      units,
      wallMs: Math.round(out.ms),
      perS: Math.round(units / (out.ms / 1000)),
      cpu,
      cpuPerUnitUs: Math.round((cpu.ownS * 1e6) / units),
      busReceived: { A: got1[0]! - got0[0]!, B: got1[1]! - got0[1]!, C: got1[2]! - got0[2]! },
    };
    if (out.byNode) {
      p.byNode = Object.fromEntries(
        Object.entries(out.byNode).map(([id, n]) => [names.get(id) ?? id, n]),
      );
    }
    if (profiles.length > 0) {
      p.mainThreadPerUnitUs = {};
      p.topFunctions = {};
      profiles.forEach((prof, i) => {
        const label = names.get(i === 0 ? a.id : b.id) ?? String(i);
        const times = selfTimes(prof, mapper).filter((t) => !IDLE.has(t.fn));
        const busyMs = times.reduce((s, t) => s + t.ms, 0);
        p.mainThreadPerUnitUs![label] = Math.round((busyMs * 1000) / units);
        p.topFunctions![label] = times
          .slice(0, 12)
          .map((t) => ({ ...t, ms: Math.round(t.ms * 10) / 10 }));
      });
    }
    phases.push(p);
    log(
      `${name}: ${units} in ${p.wallMs} ms = ${p.perS}/s; Chromium CPU ${cpu.ownS} s ` +
        `(${p.cpuPerUnitUs} µs each: ${Object.entries(cpu.byKind)
          .map(([k2, s]) => `${k2} ${s}`)
          .join(', ')}); machine busy ${cpu.machineBusyCores}/${cpu.cores} cores` +
        (p.mainThreadPerUnitUs
          ? `; main threads µs each ${JSON.stringify(p.mainThreadPerUnitUs)}`
          : '') +
        (p.byNode ? `; ran ${JSON.stringify(p.byNode)}` : '') +
        `; bus messages received ${JSON.stringify(p.busReceived)}`,
    );
    for (const [label, top] of Object.entries(p.topFunctions ?? {})) {
      log(`  ${label}:`);
      for (const f of top.slice(0, 8))
        log(`    ${f.ms.toFixed(1).padStart(7)} ms  ${f.fn}  ${f.where}`);
    }
  };
  const timed = async (f: () => Promise<number[]>): Promise<{ ms: number }> => {
    const t0 = performance.now();
    await f();
    return { ms: performance.now() - t0 };
  };
  const pages = [a.page, b.page];
  await phase('remote-rtt', 300, () => timed(() => remoteTasks(a.page, k, b.id, 300)), pages);
  await phase('bus-ping', 300, () => timed(() => busPings(a.page, b.id, 300)), pages);
  await phase('pool-flood (B)', tasks, () => poolFlood(b.page, k, tasks));
  await phase('runJobs on A itself', tasks, () => jobsOn(a.page, k, a.id, inputs));
  await phase('runJobs on B', tasks, () => jobsOn(a.page, k, b.id, inputs), pages);
  await phase('map over A, B, C', tasks, () => timedMap(a.page, k, inputs, 'none'), pages);
  for (const batch of [16, 64]) {
    await phase(`map over A, B, C, batch ${batch}`, tasks, () =>
      timedMap(a.page, k, inputs, 'none', batch),
    );
  }
  return { name: 'compute-profile', mapLease, phases };
}

/** `n` no-op tasks into the page's own pool, all started at once. */
function poolFlood(page: Page, k: Kernel, n: number): Promise<{ ms: number }> {
  return page.evaluate(
    async ({ k, n }) => {
      const pool = (await window.__wosApp.started).executors.pool;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => pool.run(k, i, { timeoutMs: 30_000 })));
      return { ms: performance.now() - t0 };
    },
    { k, n },
  );
}

/** `runJobs` of every input on one node's slot (its advertised workers), adaptive batches. */
function jobsOn(page: Page, k: Kernel, node: string, inputs: number[]): Promise<{ ms: number }> {
  return page.evaluate(
    async ({ k, node, inputs }) => {
      const rt = await window.__wosApp.started;
      const workers = rt.node.registry.view().get(node)?.resources.compute.workers ?? 1;
      const jobs = inputs.map((input, index) => ({
        index,
        input,
        excludeDevices: new Set<string>(),
        attempts: 0,
      }));
      const t0 = performance.now();
      await rt.compute.runJobs(k, jobs, [{ node, workers }], 'cpu', { timeoutMs: 30_000 });
      return { ms: performance.now() - t0 };
    },
    { k, node, inputs },
  );
}
