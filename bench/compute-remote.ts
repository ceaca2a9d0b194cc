import { busPings } from './lib/bus-page.ts';
import {
  installPoolEcho,
  kernelRequests,
  NOOP_SOURCE,
  pageKernel,
  poolEchoRequests,
  poolTasks,
  runRequests,
  remoteTasks,
  setTracing,
  takeLinkTimes,
  takePoolTimes,
  timePool,
  traceLink,
} from './lib/compute-page.ts';
import type { Harness } from './lib/harness.ts';
import { openPair } from './lib/pair.ts';
import { rawPings } from './lib/raw-channel.ts';
import { median, percentile, stat, type Stat } from './lib/stats.ts';

/**
 * A no-op task's round trip to a REMOTE tab: tab A runs `export default (x) => x` on tab B,
 * forced there with `compute.runJobs(kernel, [job], [{ node: B, workers: 1 }], 'cpu',
 * { batch: 1 })`, one task at a time (a `cx.run` request, B's sandbox pool, the reply, the
 * dispatcher's bookkeeping). The physical limit is a raw data-channel echo of 128 bytes between
 * the same two pages (bench's own RTCPeerConnection pair). Also measured, for the breakdown: a
 * bus `ping` between the same tabs, the no-op straight into B's own pool (B's executor alone),
 * and the tasks again with B's pool and both links marked (the marks are off while the headline
 * tasks run, so their cost is not in it). All interleaved in blocks of 50, each round of blocks
 * starting at the next kind in turn (so no kind always comes first after a switch of page).
 * Goal: compute p50 ≤ 2 × raw p50 + 0.3 ms.
 */
export interface RemoteRun {
  computeP50Ms: number;
  computeP99Ms: number;
  /** The same tasks in the breakdown blocks, with B's pool and both links marked. */
  tracedP50Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  busP50Ms: number;
  peerPoolP50Ms: number;
  /** A bus request to B's `cx.kernel` handler (validation, handler, reply; no sandbox). */
  kernelRequestP50Ms: number;
  /** Time B's pool spent on each remote task (its `run` call to settle). */
  poolInTaskP50Ms: number;
  /** B's pool alone, each task after 1 ms idle (timer), as between remote tasks. */
  peerPoolIdleP50Ms: number;
  /** Raw channel echo that B sends only after a no-op in its pool: a remote task's floor. */
  rawViaPoolP50Ms: number;
  /** A bus request whose handler on B answers after a no-op in B's pool (no compute layer). */
  busViaPoolP50Ms: number;
  /** The same `cx.run` request sent by `bus.request` itself (no dispatcher on A). */
  runRequestP50Ms: number;
  /** On A's link: the `cx.run` request sent → its reply received. */
  wireAndPeerP50Ms: number;
  /** On B's link: the request received → the reply sent (handler, pool, packing). */
  peerHoldP50Ms: number;
  /** compute p50 / raw p50. */
  ratio: number;
  /** 2 × raw p50 + 0.3 ms, this run. */
  goalMs: number;
}

export interface RemoteResult {
  name: 'compute-remote';
  tripsPerRun: number;
  compute: Stat;
  computeP99: Stat;
  traced: Stat;
  raw: Stat;
  rawP99: Stat;
  bus: Stat;
  peerPool: Stat;
  kernelRequest: Stat;
  poolInTask: Stat;
  peerPoolIdle: Stat;
  rawViaPool: Stat;
  busViaPool: Stat;
  runRequest: Stat;
  wireAndPeer: Stat;
  peerHold: Stat;
  ratio: Stat;
  /** 2 × raw + 0.3 ms per run, and compute − that (≤ 0 meets the goal). */
  goalMs: Stat;
  overGoalMs: Stat & { goal: string };
  details: RemoteRun[];
}

const BLOCK = 50;
const RAW_BYTES = 128;

export async function runComputeRemoteBench(
  h: Harness,
  runs: number,
  trips: number,
  log: (line: string) => void,
): Promise<RemoteResult> {
  const { a, b } = await openPair(h);
  const k = await pageKernel(a.page, NOOP_SOURCE);
  // Warm-up: B fetches the kernel from A and loads it in a worker; JIT on both paths.
  await remoteTasks(a.page, k, b.id, 2 * BLOCK);
  await poolTasks(b.page, k, BLOCK);
  await busPings(a.page, b.id, BLOCK);
  await rawPings(a.page, BLOCK, RAW_BYTES);
  await kernelRequests(a.page, b.id, k, BLOCK);
  await rawPings(a.page, BLOCK, RAW_BYTES, false, k);
  await installPoolEcho(b.page, k);
  await poolEchoRequests(a.page, b.id, BLOCK);
  await timePool(b.page);
  await traceLink(a.page, b.id);
  await traceLink(b.page, a.id);
  const details: RemoteRun[] = [];
  let rotation = 0;
  for (let r = 0; r < runs; r++) {
    const compute: number[] = [];
    const traced: number[] = [];
    const raw: number[] = [];
    const bus: number[] = [];
    const peerPool: number[] = [];
    const kernelReq: number[] = [];
    const poolInTask: number[] = [];
    const poolIdle: number[] = [];
    const viaPool: number[] = [];
    const busViaPool: number[] = [];
    const runReq: number[] = [];
    const wire: number[] = [];
    const hold: number[] = [];
    for (let done = 0; done < trips; done += BLOCK) {
      const n = Math.min(BLOCK, trips - done);
      const kinds: (() => Promise<unknown>)[] = [
        async () => compute.push(...(await remoteTasks(a.page, k, b.id, n))),
        async () => {
          // The same tasks again with B's pool and both links marked, for the breakdown only.
          await Promise.all([setTracing(a.page, true), setTracing(b.page, true)]);
          await takePoolTimes(b.page);
          traced.push(...(await remoteTasks(a.page, k, b.id, n)));
          await Promise.all([setTracing(a.page, false), setTracing(b.page, false)]);
          poolInTask.push(...(await takePoolTimes(b.page)));
          wire.push(...(await takeLinkTimes(a.page)));
          hold.push(...(await takeLinkTimes(b.page)));
        },
        async () => kernelReq.push(...(await kernelRequests(a.page, b.id, k, n))),
        async () => raw.push(...(await rawPings(a.page, n, RAW_BYTES))),
        async () => viaPool.push(...(await rawPings(a.page, n, RAW_BYTES, false, k))),
        async () => busViaPool.push(...(await poolEchoRequests(a.page, b.id, n))),
        async () => runReq.push(...(await runRequests(a.page, b.id, k, n))),
        async () => bus.push(...(await busPings(a.page, b.id, n))),
        async () => peerPool.push(...(await poolTasks(b.page, k, n))),
        async () => poolIdle.push(...(await poolTasks(b.page, k, n, 1))),
      ];
      // Each block starts at another kind: the block right after B's own pool blocks measured
      // ~0.1 ms slower than the same requests later on (stop 11), so a fixed order would charge
      // that to whichever kind always came first (it was the headline tasks).
      const first = rotation++ % kinds.length;
      for (let i = 0; i < kinds.length; i++) await kinds[(first + i) % kinds.length]!();
    }
    const run: RemoteRun = {
      computeP50Ms: median(compute),
      computeP99Ms: percentile(compute, 0.99),
      tracedP50Ms: median(traced),
      rawP50Ms: median(raw),
      rawP99Ms: percentile(raw, 0.99),
      busP50Ms: median(bus),
      peerPoolP50Ms: median(peerPool),
      kernelRequestP50Ms: median(kernelReq),
      poolInTaskP50Ms: median(poolInTask),
      peerPoolIdleP50Ms: median(poolIdle),
      rawViaPoolP50Ms: median(viaPool),
      busViaPoolP50Ms: median(busViaPool),
      runRequestP50Ms: median(runReq),
      wireAndPeerP50Ms: median(wire),
      peerHoldP50Ms: median(hold),
      ratio: median(compute) / median(raw),
      goalMs: 2 * median(raw) + 0.3,
    };
    details.push(run);
    log(
      `compute-remote ${r + 1}/${runs}: task p50 ${run.computeP50Ms.toFixed(3)} p99 ${run.computeP99Ms.toFixed(3)} ms; ` +
        `raw p50 ${run.rawP50Ms.toFixed(3)} ms (${run.ratio.toFixed(2)}×, goal ≤ ${run.goalMs.toFixed(3)} ms); ` +
        `marked task ${run.tracedP50Ms.toFixed(3)} ms; bus ping ${run.busP50Ms.toFixed(3)} ms; cx.kernel request ${run.kernelRequestP50Ms.toFixed(3)} ms; ` +
        `raw echo after B's pool ${run.rawViaPoolP50Ms.toFixed(3)} ms, bus request answered after B's pool ${run.busViaPoolP50Ms.toFixed(3)} ms, cx.run by bus.request ${run.runRequestP50Ms.toFixed(3)} ms; B's pool alone ${run.peerPoolP50Ms.toFixed(3)} ms, after 1 ms idle ${run.peerPoolIdleP50Ms.toFixed(3)} ms, in a remote task ${run.poolInTaskP50Ms.toFixed(3)} ms; ` +
        `A's link request → reply ${run.wireAndPeerP50Ms.toFixed(3)} ms, B's link request → reply ${run.peerHoldP50Ms.toFixed(3)} ms`,
    );
  }
  const s = (pick: (r: RemoteRun) => number): Stat => stat('ms', details.map(pick));
  return {
    name: 'compute-remote',
    tripsPerRun: trips,
    compute: s((r) => r.computeP50Ms),
    computeP99: s((r) => r.computeP99Ms),
    traced: s((r) => r.tracedP50Ms),
    raw: s((r) => r.rawP50Ms),
    rawP99: s((r) => r.rawP99Ms),
    bus: s((r) => r.busP50Ms),
    peerPool: s((r) => r.peerPoolP50Ms),
    kernelRequest: s((r) => r.kernelRequestP50Ms),
    poolInTask: s((r) => r.poolInTaskP50Ms),
    peerPoolIdle: s((r) => r.peerPoolIdleP50Ms),
    rawViaPool: s((r) => r.rawViaPoolP50Ms),
    busViaPool: s((r) => r.busViaPoolP50Ms),
    runRequest: s((r) => r.runRequestP50Ms),
    wireAndPeer: s((r) => r.wireAndPeerP50Ms),
    peerHold: s((r) => r.peerHoldP50Ms),
    ratio: stat(
      '×',
      details.map((d) => d.ratio),
      2,
    ),
    goalMs: s((r) => r.goalMs),
    overGoalMs: { ...s((r) => r.computeP50Ms - r.goalMs), goal: '≤ 0 (task ≤ 2 × raw + 0.3 ms)' },
    details,
  };
}
