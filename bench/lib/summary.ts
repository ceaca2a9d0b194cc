import type { SignalingBenchResult } from '../signaling.ts';
import type { RttResult } from '../bus-rtt.ts';
import type { ThroughputResult } from '../bus-throughput.ts';
import type { FailureResult } from '../failure.ts';
import type { JoinResult } from '../join.ts';
import type { SummaryRow } from './report.ts';
import type { Stat } from './stats.ts';

/** One summary row per headline number, with its goal where the issue or the e2e suite set one. */
export type BenchResult =
  JoinResult | FailureResult | RttResult | ThroughputResult | SignalingBenchResult;

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
  }
}
