import type { AccountSigninResult } from '../account-signin.ts';
import type { ShareLinkResult } from '../share-link.ts';
import type { SignalingBenchResult } from '../signaling.ts';
import type { RttResult } from '../bus-rtt.ts';
import type { ThroughputResult } from '../bus-throughput.ts';
import type { FailureResult } from '../failure.ts';
import type { JoinResult } from '../join.ts';
import type { ComputeGpuSuiteResult } from '../compute-gpu-suite.ts';
import type { ComputeLocalSuiteResult } from '../compute-local-suite.ts';
import type { RemoteResult } from '../compute-remote.ts';
import type { ComputeThroughputResult } from '../compute-throughput.ts';
import type { StoragePipelineSuiteResult } from '../storage-pipeline-suite.ts';
import type { StoragePipelineTabResult } from '../storage-pipeline-tab.ts';
import type { StorageRepairResult } from '../storage-repair.ts';
import type { StorageTransferResult } from '../storage-transfer.ts';
import type { SummaryRow } from './report.ts';
import { stat, type Stat } from './stats.ts';

/** One summary row per headline number, with its goal where the issue or the e2e suite set one. */
export type BenchResult =
  | JoinResult
  | FailureResult
  | RttResult
  | ThroughputResult
  | SignalingBenchResult
  | ComputeLocalSuiteResult
  | RemoteResult
  | ComputeThroughputResult
  | ComputeGpuSuiteResult
  | StoragePipelineSuiteResult
  | StoragePipelineTabResult
  | StorageTransferResult
  | StorageRepairResult
  | AccountSigninResult
  | ShareLinkResult;

/** Three significant digits: enough for numbers that vary by more between runs. */
const sig = (x: number): number => Number(x.toPrecision(3));

const row = (bench: string, metric: string, s: Stat, goal?: [string, boolean]): SummaryRow => ({
  bench,
  metric,
  median: sig(s.median),
  unit: s.unit,
  runs: s.runs.map(sig),
  ...(goal ? { goal: goal[0], met: goal[1] } : {}),
});

const atMost = (s: Stat, limit: number, text: string): [string, boolean] => [
  text,
  s.median <= limit,
];
const atLeast = (s: Stat, limit: number, text: string): [string, boolean] => [
  text,
  s.median >= limit,
];

export function summarize(r: BenchResult): SummaryRow[] {
  switch (r.name) {
    case 'join':
      return [
        row('join', 'navigation → wos.ready', r.ready),
        row(
          'join',
          'navigation → visible to all 3 peers',
          r.visible,
          atMost(r.visible, 5000, '≤ 5000 ms'),
        ),
        row('join', 'navigation → sees all 3 peers', r.seesAll),
      ];
    case 'failure-detection':
      return [
        row('failure', 'closed tab gone everywhere', r.close, atMost(r.close, 1000, '≤ 1000 ms')),
        row(
          'failure',
          'tab closed mid-upload gone everywhere',
          r.closeBusy,
          atMost(r.closeBusy, 1000, '≤ 1000 ms'),
        ),
        row('failure', 'crashed tab gone everywhere', r.crash, atMost(r.crash, 5000, '≤ 5000 ms')),
        row(
          'failure',
          'coordinator crashed → new one agreed',
          r.coordinatorElected,
          atMost(r.coordinatorElected, 5000, '≤ 5000 ms'),
        ),
        row('failure', 'crashed coordinator gone everywhere', r.coordinatorVanished),
      ];
    case 'bus-rtt':
      return [
        row('bus-rtt', 'bus / raw RTT (median)', r.ratio, atMost(r.ratio, 1.5, r.ratio.goal)),
        row('bus-rtt', 'bus RTT p50', r.busP50),
        row('bus-rtt', 'raw RTT p50', r.rawP50),
        row('bus-rtt', 'bus RTT p99', r.busP99),
        row('bus-rtt', 'raw RTT p99', r.rawP99),
      ];
    case 'bus-throughput':
      return [
        row('bus-throughput', 'bus / raw throughput', r.ratio, atLeast(r.ratio, 0.9, r.ratio.goal)),
        row('bus-throughput', 'bus (192 KiB, 8 in flight)', r.bus),
        row('bus-throughput', `raw limit (${r.limitSize} messages)`, r.limit),
        ...Object.entries(r.raw).map(([k, s]) => row('bus-throughput', `raw ${k} messages`, s)),
      ];
    case 'signaling_joins_per_second':
      return [
        row('signaling', `joins/s (${r.peers} peers)`, r),
        row('signaling', 'server RSS per peer', {
          unit: 'KiB',
          median: r.memoryPerPeer.median / 1024,
          runs: r.memoryPerPeer.runs.map((b) => b / 1024),
        }),
        row('signaling', 'relay', r.relay),
      ];
    case 'compute-local':
      return [
        row(
          'compute-local',
          `map efficiency (${r.tasks} × ${r.taskMs} ms on ${r.workers} workers)`,
          r.mapEfficiency,
          atLeast(r.mapEfficiency, 90, r.mapEfficiency.goal),
        ),
        row('compute-local', `map ${r.tasks} tasks, wall time`, r.mapMs),
        row('compute-local', 'SandboxPool alone efficiency (2 × cores tasks)', r.poolEfficiency),
        row('compute-local', 'no-op task RTT, sandbox pool', r.pool),
        row('compute-local', 'raw postMessage RTT, plain worker', r.raw),
        row('compute-local', 'pool / raw postMessage RTT', r.ratio),
        row('compute-local', 'echo RTT, bare worker in sandbox iframe', r.sandboxRaw),
        row('compute-local', 'pool / bare sandbox worker RTT', r.sandboxRatio),
      ];
    case 'compute-remote': {
      const b = r.name;
      const limit = 2 * r.raw.median + 0.3;
      return [
        row(b, 'remote no-op task RTT p50', r.compute, [
          `≤ 2 × raw + 0.3 = ${limit.toFixed(2)} ms`,
          r.compute.median <= limit,
        ]),
        row(b, 'task / raw RTT', r.ratio),
        row(b, 'raw data-channel RTT p50', r.raw),
        row(b, 'bus ping RTT p50', r.bus),
        row(b, "raw echo sent after a no-op in the peer's pool (floor)", r.rawViaPool),
        row(b, "bus request answered after a no-op in the peer's pool", r.busViaPool),
        row(b, 'the same cx.run request by bus.request (no dispatcher)', r.runRequest),
        row(b, "no-op in the peer's own pool", r.peerPool),
        row(b, "peer's pool, after 1 ms idle", r.peerPoolIdle),
        row(b, 'remote task RTT p50 with the marks below on', r.traced),
        row(b, "peer's pool time within a remote task", r.poolInTask),
        row(b, "caller's link: request sent → reply received", r.wireAndPeer),
        row(b, "peer's link: request received → reply sent", r.peerHold),
        row(b, "bus request to the peer's cx.kernel handler", r.kernelRequest),
        row(b, 'remote task RTT p99', r.computeP99),
        row(b, 'raw RTT p99', r.rawP99),
      ];
    }
    case 'compute-throughput': {
      const label = ['A (caller)', 'B', 'C'];
      return [
        row(
          'compute-throughput',
          `no-op tasks/s, 3 tabs, map of ${r.tasks}`,
          r.tasksPerS,
          atLeast(r.tasksPerS, 5000, r.tasksPerS.goal),
        ),
        ...r.nodes.map((id, i) =>
          row(
            'compute-throughput',
            `tasks run by ${label[i]} (${r.workers[id]} worker${r.workers[id] === 1 ? '' : 's'})`,
            stat(
              'tasks',
              r.details.map((d) => d.byNode[id] ?? 0),
              0,
            ),
          ),
        ),
      ];
    }
    case 'compute-gpu': {
      const what = r.software ? 'software GPU' : 'GPU';
      return [
        ...(r.gpuTiled ? [row('compute-gpu', `${what} ${r.n}² matmul, tiled`, r.gpuTiled)] : []),
        ...(r.gpuNaive ? [row('compute-gpu', `${what} ${r.n}² matmul, naive`, r.gpuNaive)] : []),
        row('compute-gpu', `JS ${r.n}² matmul, main thread`, r.js),
        ...(r.ratio ? [row('compute-gpu', `best ${what} / JS`, r.ratio)] : []),
      ];
    }
    case 'storage-pipeline':
      return [
        ...Object.entries(r.codes).flatMap(([code, c]) => [
          // The goal is judged in a tab (storage-pipeline-tab), where the product runs this:
          // Node's WebCrypto seals on its thread pool, so "AES alone" there takes both cores.
          row(
            'storage-pipeline',
            `${code} Node: pipeline (worker) / min(cipher, coder)`,
            c.workerRatio,
          ),
          row('storage-pipeline', `${code} same, coder on the main thread`, c.ratio),
          row('storage-pipeline', `${code} same, if nothing overlapped`, c.serialRatio),
          row('storage-pipeline', `${code} encrypt + code pipeline, worker`, c.pipelineWorker),
          row('storage-pipeline', `${code} encrypt + code pipeline, main thread`, c.pipeline),
          row('storage-pipeline', `${code} AES-256-GCM alone`, c.aesGcm),
          row('storage-pipeline', `${code} RS encode alone`, c.coderEncode),
          row(
            'storage-pipeline',
            `${code} RS reconstruct (2 data lost)`,
            c.coderReconstructTwoData,
          ),
        ]),
        row('storage-pipeline', 'memcpy (ceiling)', r.memcpy),
        row('storage-pipeline', 'Node process CPU during the run', r.ownCores),
        row('storage-pipeline', 'whole machine busy during the run', r.machineBusyCores),
      ];
    case 'storage-pipeline-tab':
      return [
        ...Object.entries(r.codes).flatMap(([code, c]) => [
          row(
            'storage-pipeline-tab',
            `${code} pipeline / min(cipher, coder), in a tab`,
            c.ratio,
            atLeast(c.ratio, 0.8, c.ratio.goal),
          ),
          row('storage-pipeline-tab', `${code} seal + code pipeline`, c.pipeline),
          row('storage-pipeline-tab', `${code} the same, every shard hashed too (a put)`, c.hashed),
          row(
            'storage-pipeline-tab',
            `${code} the same, the page sealing and the workers coding`,
            c.pageSeals,
          ),
          row(
            'storage-pipeline-tab',
            `${code} pipeline / both cores only sealing and coding (${c.twoCoreBound.median} MB/s)`,
            c.ofTwoCoreBound,
          ),
          row('storage-pipeline-tab', `${code} AES-256-GCM alone (page thread)`, c.aesGcm),
          row(
            'storage-pipeline-tab',
            `${code} RS encode alone (${r.coderWorkers} coder worker${r.coderWorkers === 1 ? '' : 's'})`,
            c.coderEncode,
          ),
        ]),
      ];
    case 'storage-transfer':
      return [
        row(
          'storage-transfer',
          `put ${r.code}: shard bytes / raw channel A → B`,
          r.putRatio,
          atLeast(r.putRatio, 0.7, r.putRatio.goal),
        ),
        row(
          'storage-transfer',
          `get from k = ${r.code.slice(1).split(',')[0]} holders / raw channel B → A`,
          r.getRatio,
          atLeast(r.getRatio, 1, r.getRatio.goal),
        ),
        row('storage-transfer', 'put, shard bytes placed on peers', r.putShardMBps),
        row('storage-transfer', 'put, file bytes', r.putFileMBps),
        row('storage-transfer', 'get, file bytes', r.getMBps),
        row('storage-transfer', `raw A → B (${r.limitUp} messages)`, r.rawUpMBps),
        row('storage-transfer', `raw B → A (${r.limitDown} messages)`, r.rawDownMBps),
        row('storage-transfer', 'raw B → A and C → A at once (fan-in, 256 KiB)', r.rawFanInMBps),
        row(
          'storage-transfer',
          'raw fan-in / raw B → A (do 2 channels beat 1 here?)',
          r.fanInRatio,
        ),
        row('storage-transfer', 'get / raw fan-in (the get beyond moving its bytes)', r.getOfFanIn),
      ];
    case 'storage-repair':
      return [
        row('storage-repair', `holder crashed → ${r.code} file healthy again`, r.total),
        row('storage-repair', 'holder crashed → gone from the owner’s view', r.detect),
        row('storage-repair', 'repair pass (audit, rebuild, place, re-sign)', r.repair),
        row('storage-repair', 'repair pass, rebuilt shard bytes', r.repairMBps),
      ];
    case 'account-signin':
      return [
        row(
          'account-signin',
          'passphrase sign-in (scrypt 2^16, login, open, certificate)',
          r.signIn,
          atMost(r.signIn, 1000, '≤ 1000 ms'),
        ),
        row('account-signin', 'reload with #/me → ready in the personal mesh', r.personalReady),
      ];
    case 'share-link':
      return [
        row(
          'share-link',
          `open link → first byte, ${r.fileBytes / 2 ** 20} MiB ${r.code}`,
          r.first,
        ),
        row('share-link', `open link → last byte, ${r.fileBytes / 2 ** 20} MiB ${r.code}`, r.last),
        row('share-link', 'guest read rate after the first byte', r.MBps),
      ];
  }
}
