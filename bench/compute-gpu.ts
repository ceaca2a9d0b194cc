import { build } from 'esbuild';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { makeKernel, type Kernel } from '../src/core/compute/kernel.ts';
import type * as Gpu from '../src/platform/compute/webgpu/index.ts';
import {
  matmulSpec,
  matmulTiledSpec,
  vectorAddSpec,
} from '../src/platform/compute/webgpu/kernels.ts';

/**
 * GPU compute benchmark: n×n f32 matmul (default 512) through `WebGpuExecutor` (upload,
 * dispatch and read-back included; the first, compiling run is not counted) against the same
 * product in plain JS on the same page. Medians of `runs` (default 5). Not wired into
 * `npm run bench`; run alone with `node --import tsx bench/compute-gpu.ts [n] [runs]` (it enters
 * the loopback-only namespace itself).
 */
export interface Timing {
  medianMs: number;
  gflops: number;
  samplesMs: number[];
}

export interface GpuBenchResult {
  bench: 'compute-gpu';
  n: number;
  runs: number;
  adapter: Gpu.WgpuAdapterInfo | null;
  /** One invocation per output element, straight from storage. */
  gpuNaive: Timing | null;
  /** 16×16 tiles staged in workgroup memory. */
  gpuTiled: Timing | null;
  /** i-k-j loops over Float32Array on the page's main thread. */
  js: Timing;
  /** Median round trip of a 256-element vector add: the executor's fixed cost per run. */
  overheadMs: number | null;
  /** Largest |GPU − JS| over the product (f32 rounding only). */
  maxAbsDiff: number | null;
  error?: string;
}

type GpuWindow = Window & { WosGpu?: typeof Gpu; wosGpuBench?: Gpu.WebGpuExecutor };

const ROOT = resolve(import.meta.dirname, '..');

/** The executor as an IIFE (`window.WosGpu`), for `page.addScriptTag`. */
export async function bundleGpuExecutor(): Promise<string> {
  const out = await build({
    entryPoints: [resolve(ROOT, 'src/platform/compute/webgpu/index.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'WosGpu',
    target: 'es2022',
    write: false,
  });
  return out.outputFiles[0]!.text;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const timing = (samplesMs: number[], n: number): Timing => {
  const medianMs = median(samplesMs);
  return { medianMs, gflops: (2 * n ** 3) / (medianMs * 1e6), samplesMs };
};

/** Runs on the page: times `runs` GPU matmuls (after one warm-up) and keeps the last result. */
async function timeGpu(page: Page, k: Kernel, n: number, runs: number): Promise<number[]> {
  return page.evaluate(
    async ({ k, n, runs }) => {
      const w = window as unknown as GpuWindow;
      const ex = w.wosGpuBench!;
      const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
      const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
      const input = { a, b, n };
      const opts = { timeoutMs: 120_000 };
      let out = (await ex.run(k, input, opts)) as Float32Array; // compiles the pipeline
      const samples: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        out = (await ex.run(k, input, opts)) as Float32Array;
        samples.push(performance.now() - t0);
      }
      (window as unknown as { benchOut: Float32Array }).benchOut = out;
      return samples;
    },
    { k, n, runs },
  );
}

/** Measures on `page` (any origin that allows inline scripts); returns JSON-ready numbers. */
export async function runComputeGpuBench(
  page: Page,
  opts: { n?: number; runs?: number } = {},
): Promise<GpuBenchResult> {
  const n = opts.n ?? 512;
  const runs = opts.runs ?? 5;
  if (n % 16 !== 0) throw new Error(`n must be a multiple of 16 (the tiled kernel), got ${n}`);
  if (!(await page.evaluate(() => 'WosGpu' in window))) {
    await page.addScriptTag({ content: await bundleGpuExecutor() });
  }
  const adapter = await page.evaluate(async () => {
    const w = window as unknown as GpuWindow;
    w.wosGpuBench ??= await w.WosGpu!.WebGpuExecutor.create();
    const info = w.wosGpuBench.adapterInfo;
    return w.wosGpuBench.hasGpu && info ? { ...info } : null;
  });
  const js = await page.evaluate(
    ({ n, runs }) => {
      const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
      const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 5) % 11) / 11 - 0.5);
      const samples: number[] = [];
      let out = new Float32Array(n * n);
      for (let r = 0; r <= runs; r++) {
        const t0 = performance.now();
        out = new Float32Array(n * n);
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < n; k++) {
            const aik = a[i * n + k]!;
            const row = i * n;
            const col = k * n;
            for (let j = 0; j < n; j++) out[row + j]! += aik * b[col + j]!;
          }
        }
        if (r > 0) samples.push(performance.now() - t0); // the first run warms the JIT
      }
      (window as unknown as { jsOut: Float32Array }).jsOut = out;
      return samples;
    },
    { n, runs },
  );
  const result: GpuBenchResult = {
    bench: 'compute-gpu',
    n,
    runs,
    adapter,
    gpuNaive: null,
    gpuTiled: null,
    js: timing(js, n),
    overheadMs: null,
    maxAbsDiff: null,
  };
  if (!adapter) return { ...result, error: 'no WebGPU adapter on this page' };
  const subtle = globalThis.crypto.subtle;
  result.gpuNaive = timing(await timeGpu(page, await makeKernel(subtle, matmulSpec()), n, runs), n);
  const tiled = await makeKernel(subtle, matmulTiledSpec());
  result.gpuTiled = timing(await timeGpu(page, tiled, n, runs), n);
  const add = await makeKernel(subtle, vectorAddSpec());
  result.overheadMs = await page.evaluate(async (k) => {
    const ex = (window as unknown as GpuWindow).wosGpuBench!;
    const input = { a: new Float32Array(256), b: new Float32Array(256) };
    const samples: number[] = [];
    for (let r = 0; r < 21; r++) {
      const t0 = performance.now();
      await ex.run(k, input, { timeoutMs: 10_000 });
      if (r > 0) samples.push(performance.now() - t0);
    }
    return samples.sort((a, b) => a - b)[10]!;
  }, add);
  result.maxAbsDiff = await page.evaluate(() => {
    const w = window as unknown as { benchOut: Float32Array; jsOut: Float32Array };
    return w.benchOut.reduce((m, x, i) => Math.max(m, Math.abs(x - w.jsOut[i]!)), 0);
  });
  return result;
}

/** Standalone: a server, Chromium with WebGPU (SwiftShader here), the bench, JSON on stdout. */
async function main(): Promise<void> {
  const { assertLoopbackOnly, runInLoopbackNamespace } = await import('../test/support/netns.ts');
  if (process.env['WOS_NETNS'] !== '1') {
    const self = fileURLToPath(import.meta.url);
    const argv = [process.execPath, '--import', 'tsx', self, ...process.argv.slice(2)];
    process.exit(await runInLoopbackNamespace(argv));
  }
  assertLoopbackOnly();
  const { launchBrowser, startServer } = await import('../test/e2e/fixtures.ts');
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    const [n, runs] = process.argv.slice(2).map(Number);
    const result = await runComputeGpuBench(page, { n: n || 512, runs: runs || 5 });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Exit explicitly: the WOS server leaves two ref'd timers behind after close().
  await main().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`compute-gpu: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
