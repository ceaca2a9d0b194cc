import { DIST } from '../test/e2e/fixtures.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runAccountSigninBench } from './account-signin.ts';
import { runShareLinkBench } from './share-link.ts';
import { runBusAb, type AbResult } from './bus-ab.ts';
import { runBusProfile, type ProfileResult } from './bus-profile.ts';
import { runBusRttBench } from './bus-rtt.ts';
import { runBusThroughputBench } from './bus-throughput.ts';
import { runComputeGpuSuite } from './compute-gpu-suite.ts';
import { runComputeLocalSuite } from './compute-local-suite.ts';
import { runComputeProfile, type ComputeProfileResult } from './compute-profile.ts';
import { runComputeRemoteBench } from './compute-remote.ts';
import { runStoragePipelineTabBench } from './storage-pipeline-tab.ts';
import { runComputeThroughputBench } from './compute-throughput.ts';
import { runFailureBench } from './failure.ts';
import { runJoinBench } from './join.ts';
import { Harness } from './lib/harness.ts';
import { loadAvg, machineInfo, table, type SummaryRow } from './lib/report.ts';
import { summarize, type BenchResult } from './lib/summary.ts';
import { runSignalingBench } from './signaling.ts';
import { runStoragePipelineSuite } from './storage-pipeline-suite.ts';
import { runStorageRepairBench } from './storage-repair.ts';
import { runStorageTransferBench } from './storage-transfer.ts';
import { runWireCost, type WireCostResult } from './wire-cost.ts';

type Diagnostic = ProfileResult | AbResult | WireCostResult | ComputeProfileResult;

/**
 * The benchmark suite (`npm run bench [-- --runs 5 --only join,bus-rtt …]`). Runs inside the
 * loopback-only namespace (bench/main.ts checks). Writes bench/results/latest.json, prints the
 * readable table on stderr and the same JSON as the last thing on stdout.
 */
export const BENCHES = [
  'join',
  'failure-detection',
  'bus-rtt',
  'bus-throughput',
  'signaling',
  'compute-local',
  'compute-remote',
  'compute-throughput',
  'compute-gpu',
  'storage-pipeline',
  'storage-pipeline-tab',
  'storage-transfer',
  'storage-repair',
  'account-signin',
  'share-link',
];
/** Diagnostics: run only when named in `--only`. */
export const DIAGNOSTICS = ['bus-profile', 'bus-ab', 'wire-cost', 'compute-profile'];

const USAGE = `usage: npm run bench -- [--build] [--runs N] [--only ${BENCHES.join(',')}]
  (diagnostics, only when named: --only ${DIAGNOSTICS.join(',')})
  [--pings 500] [--mib 64] [--peers 10000] [--signaling-runs 3] [--trips 300]
  [--tasks 50000] [--file-mib 24] [--out bench/results/latest.json]`;

const ROOT = resolve(import.meta.dirname, '..');
const log = (line: string): void => void process.stderr.write(`${line}\n`);

export async function runSuite(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '5' },
      only: { type: 'string', multiple: true },
      pings: { type: 'string', default: '500' },
      mib: { type: 'string', default: '64' },
      peers: { type: 'string', default: '10000' },
      'signaling-runs': { type: 'string', default: '3' },
      trips: { type: 'string', default: '300' },
      tasks: { type: 'string', default: '50000' },
      'file-mib': { type: 'string', default: '24' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(USAGE);
    return 0;
  }
  const only = (values.only ?? BENCHES).flatMap((s) => s.split(',')).filter(Boolean);
  const unknown = only.filter((b) => !BENCHES.includes(b) && !DIAGNOSTICS.includes(b));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.join(', ')}\n${USAGE}`);
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const options = {
    runs: num('runs', values.runs),
    pings: num('pings', values.pings),
    mib: num('mib', values.mib),
    peers: num('peers', values.peers),
    signalingRuns: num('signaling-runs', values['signaling-runs']),
    trips: num('trips', values.trips),
    tasks: num('tasks', values.tasks),
    fileMiB: num('file-mib', values['file-mib']),
    // A diagnostics-only run does not replace the benchmark results.
    out:
      values.out ??
      resolve(
        ROOT,
        only.every((b) => DIAGNOSTICS.includes(b))
          ? 'bench/results/diagnostics.json'
          : 'bench/results/latest.json',
      ),
  };
  const started = new Date();
  const machine = machineInfo(DIST);
  log(
    `WOS benchmarks ${started.toISOString()} on ${machine.cores} × ${machine.cpu}, ${machine.node}, ${machine.chromium}, load ${machine.loadAvg.join(' ')}`,
  );
  const results: Record<string, BenchResult | Diagnostic | { error: string }> = {};
  let failed = false;
  for (const name of [...BENCHES, ...DIAGNOSTICS].filter((b) => only.includes(b))) {
    log(`\n== ${name}`);
    const t0 = performance.now();
    try {
      results[name] = await runOne(name, options);
    } catch (e) {
      failed = true;
      const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
      results[name] = { error: message };
      log(`${name} FAILED: ${message}`);
    }
    log(`(${name}: ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const summary: SummaryRow[] = Object.values(results).flatMap((r) =>
    'error' in r || DIAGNOSTICS.includes(r.name) ? [] : summarize(r as BenchResult),
  );
  const report = {
    date: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    machine,
    loadAvgEnd: loadAvg(),
    options,
    summary,
    results,
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(report, null, 2)}\n`);
  log(`\n${table(summary)}\n\nwrote ${options.out}`);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return failed ? 1 : 0;
}

interface Options {
  runs: number;
  pings: number;
  mib: number;
  peers: number;
  signalingRuns: number;
  trips: number;
  tasks: number;
  fileMiB: number;
  out: string;
}

async function runOne(name: string, o: Options): Promise<BenchResult | Diagnostic> {
  if (name === 'wire-cost') return runWireCost(log);
  if (name === 'signaling') {
    return runSignalingBench({ peers: o.peers, runs: o.signalingRuns, log });
  }
  if (name === 'storage-pipeline') return runStoragePipelineSuite(o.runs, log);
  // Sub-ms timing needs a cross-origin isolated page (5 µs timer instead of 100 µs).
  const isolated =
    name.startsWith('bus-') ||
    ['compute-local', 'compute-remote', 'compute-profile'].includes(name);
  const h = await Harness.start({ isolated });
  try {
    switch (name) {
      case 'join':
        return await runJoinBench(h, o.runs, log);
      case 'failure-detection':
        return await runFailureBench(h, o.runs, log);
      case 'bus-rtt':
        return await runBusRttBench(h, o.runs, o.pings, log);
      case 'bus-ab':
        return await runBusAb(h, o.runs, log);
      case 'bus-profile':
        return await runBusProfile(h, o.pings * 4, resolve(dirname(o.out), 'profiles'), log);
      case 'compute-local':
        return await runComputeLocalSuite(h, o.runs, log);
      case 'compute-remote':
        return await runComputeRemoteBench(h, o.runs, o.trips, log);
      case 'compute-throughput':
        return await runComputeThroughputBench(h, o.runs, o.tasks, log);
      case 'compute-profile':
        return await runComputeProfile(h, o.tasks, log);
      case 'compute-gpu':
        return await runComputeGpuSuite(h, o.runs, log);
      case 'storage-pipeline-tab':
        return await runStoragePipelineTabBench(h, o.runs, log);
      case 'storage-transfer':
        return await runStorageTransferBench(h, o.runs, o.fileMiB, log);
      case 'storage-repair':
        return await runStorageRepairBench(h, o.runs, o.fileMiB, log);
      case 'account-signin':
        return await runAccountSigninBench(h, o.runs, log);
      case 'share-link':
        // Issue #5 names the size: a 32 MiB file.
        return await runShareLinkBench(h, o.runs, 32, log);
      default:
        return await runBusThroughputBench(h, o.runs, o.mib * 1024 * 1024, log);
    }
  } finally {
    await h.close();
  }
}
