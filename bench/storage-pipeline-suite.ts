import os from 'node:os';
import { cpuSnapshot, cpuUse } from './lib/proc-cpu.ts';
import { runStoragePipelineBench, type StoragePipelineResult } from './storage-pipeline.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * The storage write path's CPU stages in Node (bench/storage-pipeline.ts): AES-256-GCM alone,
 * the Reed-Solomon coder alone, and the pipeline that seals the next stripes while coding this
 * one (the coder on the main thread, and in a worker thread as tabs run it), for the (4,6) and (2,4) codes on a 32 MiB file in 4 MiB stripes; memcpy as the ceiling.
 * Each run is one call of the module (a warm-up pass, then every stage once, in turn, three
 * times; each stage's median of the three), so the ratio of a run compares stages measured
 * moments apart. The goal (pipeline ≥ 0.8 × the slower of cipher and coder) is judged
 * in a tab (bench/storage-pipeline-tab.ts), where WOS runs this path: Node's WebCrypto seals on
 * its thread pool, so its "AES alone" already takes both cores of this machine.
 */
export interface StorageCodeStats {
  aesGcm: Stat;
  coderEncode: Stat;
  coderReconstructTwoData: Stat;
  /** Coder on the main thread. */
  pipeline: Stat;
  /** pipeline / min(aesGcm, coderEncode), per run. */
  ratio: Stat;
  /** Coder in a worker thread (as tabs run it). */
  pipelineWorker: Stat;
  /** pipelineWorker / min(aesGcm, coderEncode), per run (Node's reference for the goal). */
  workerRatio: Stat;
  /**
   * The same ratio if cipher and coder did not overlap at all (1 / (1/aes + 1/coder) over the
   * slower): where the pipeline would land with a single free core.
   */
  serialRatio: Stat;
}

export interface StoragePipelineSuiteResult {
  name: 'storage-pipeline';
  unit: string;
  fileBytes: number;
  stripeBytes: number;
  memcpy: Stat;
  /** This Node process's CPU (all threads) and the whole machine's, in cores, per run. */
  ownCores: Stat;
  machineBusyCores: Stat;
  codes: Record<string, StorageCodeStats>;
  perRun: StoragePipelineResult[];
}

const STAGE_SAMPLES = 3;

export async function runStoragePipelineSuite(
  runs: number,
  log: (line: string) => void,
): Promise<StoragePipelineSuiteResult> {
  const perRun: StoragePipelineResult[] = [];
  const own: number[] = [];
  const machine: number[] = [];
  for (let r = 0; r < runs; r++) {
    const snap = cpuSnapshot();
    const cpu0 = process.cpuUsage();
    const res = await runStoragePipelineBench({ runs: STAGE_SAMPLES });
    const cpu1 = process.cpuUsage(cpu0);
    const use = cpuUse(snap, cpuSnapshot(), os.cpus().length);
    own.push((cpu1.user + cpu1.system) / 1e6 / use.wallS);
    machine.push(use.machineBusyCores);
    perRun.push(res);
    log(
      `storage-pipeline ${r + 1}/${runs}: Node ${own.at(-1)!.toFixed(2)} cores, machine busy ` +
        `${use.machineBusyCores}/${use.cores}; memcpy ${res.memcpy} MB/s; ` +
        Object.entries(res.codes)
          .map(
            ([code, c]) =>
              `${code} AES-GCM ${c.aesGcm}, coder ${c.coderEncode}, pipeline ${c.pipeline} MB/s ` +
              `(${c.ratio}×), with the coder in a worker ${c.pipelineWorker} MB/s (${c.workerRatio}×)`,
          )
          .join('; '),
    );
  }
  const first = perRun[0]!;
  const codes: Record<string, StorageCodeStats> = {};
  for (const code of Object.keys(first.codes)) {
    const pick = (f: (c: StoragePipelineResult['codes'][string]) => number): number[] =>
      perRun.map((p) => f(p.codes[code]!));
    codes[code] = {
      aesGcm: stat(
        'MB/s',
        pick((c) => c.aesGcm),
        0,
      ),
      coderEncode: stat(
        'MB/s',
        pick((c) => c.coderEncode),
        0,
      ),
      coderReconstructTwoData: stat(
        'MB/s',
        pick((c) => c.coderReconstructTwoData),
        0,
      ),
      pipeline: stat(
        'MB/s',
        pick((c) => c.pipeline),
        0,
      ),
      ratio: stat(
        '×',
        pick((c) => c.pipeline / Math.min(c.aesGcm, c.coderEncode)),
        2,
      ),
      pipelineWorker: stat(
        'MB/s',
        pick((c) => c.pipelineWorker),
        0,
      ),
      workerRatio: stat(
        '×',
        pick((c) => c.pipelineWorker / Math.min(c.aesGcm, c.coderEncode)),
        2,
      ),
      serialRatio: stat(
        '×',
        pick((c) => 1 / (1 / c.aesGcm + 1 / c.coderEncode) / Math.min(c.aesGcm, c.coderEncode)),
        2,
      ),
    };
  }
  return {
    name: 'storage-pipeline',
    unit: first.unit.replace(', median of runs', ''),
    fileBytes: first.fileBytes,
    stripeBytes: first.stripeBytes,
    memcpy: stat(
      'MB/s',
      perRun.map((p) => p.memcpy),
      0,
    ),
    ownCores: stat('cores', own, 2),
    machineBusyCores: stat('cores', machine, 2),
    codes,
    perRun,
  };
}
