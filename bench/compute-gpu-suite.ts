import { runComputeGpuBench, type GpuBenchResult } from './compute-gpu.ts';
import type { Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * GPU compute (bench/compute-gpu.ts): an n × n f32 matmul (512) through the product's
 * `WebGpuExecutor` (upload, dispatch and read-back included; the compiling first run not
 * counted), naive and 16 × 16-tiled kernels, against the same product in plain JS on the page's
 * main thread. One sample per run, `runs` runs. No goal: the only adapter here is SwiftShader,
 * Chromium's CPU emulation of a GPU, so GPU GFLOP/s say nothing about a real GPU.
 */
export interface ComputeGpuSuiteResult {
  name: 'compute-gpu';
  n: number;
  adapter: GpuBenchResult['adapter'];
  /** True when the adapter is a software (CPU) emulation such as SwiftShader. */
  software: boolean;
  gpuNaive: Stat | null;
  gpuTiled: Stat | null;
  js: Stat;
  /** Best GPU kernel / JS, per run. */
  ratio: Stat | null;
  /** Median round trip of a 256-element vector add (the executor's fixed cost). */
  overheadMs: number | null;
  maxAbsDiff: number | null;
  error?: string;
}

const N = 512;

export async function runComputeGpuSuite(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<ComputeGpuSuiteResult> {
  const { page } = await h.blankPage();
  await page.goto(h.url);
  const r = await runComputeGpuBench(page, { n: N, runs });
  const gflops = (ms: number[]): number[] => ms.map((t) => (2 * N ** 3) / (t * 1e6));
  const naive = r.gpuNaive ? gflops(r.gpuNaive.samplesMs) : null;
  const tiled = r.gpuTiled ? gflops(r.gpuTiled.samplesMs) : null;
  const js = gflops(r.js.samplesMs);
  const best =
    naive && tiled ? naive.map((x, i) => Math.max(x, tiled[i] ?? 0)) : (naive ?? tiled ?? null);
  const a = r.adapter;
  const software =
    !!a && (a.isFallbackAdapter || /swiftshader/i.test(`${a.architecture} ${a.description}`));
  log(
    `compute-gpu: adapter ${a ? `${a.vendor}/${a.architecture}${software ? ' (software)' : ''}` : 'none'}; ` +
      `${N}×${N} matmul GFLOP/s: naive ${naive?.map((x) => x.toFixed(3)).join(' ') ?? '–'}, ` +
      `tiled ${tiled?.map((x) => x.toFixed(3)).join(' ') ?? '–'}, JS ${js.map((x) => x.toFixed(3)).join(' ')}; ` +
      `fixed cost ${r.overheadMs?.toFixed(2) ?? '–'} ms`,
  );
  return {
    name: 'compute-gpu',
    n: N,
    adapter: a,
    software,
    gpuNaive: naive ? stat('GFLOP/s', naive) : null,
    gpuTiled: tiled ? stat('GFLOP/s', tiled) : null,
    js: stat('GFLOP/s', js),
    ratio: best
      ? stat(
          '×',
          best.map((x, i) => x / (js[i] ?? 1)),
          2,
        )
      : null,
    overheadMs: r.overheadMs,
    maxAbsDiff: r.maxAbsDiff,
    ...(r.error ? { error: r.error } : {}),
  };
}
