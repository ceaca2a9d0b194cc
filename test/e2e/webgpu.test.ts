import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeKernel, type Kernel, type WgslKernelSpec } from '../../src/core/compute/kernel.ts';
import type * as Gpu from '../../src/platform/compute/webgpu/index.ts';
import * as K from '../../src/platform/compute/webgpu/kernels.ts';
import type { WosServer } from '../../signaling-server/server.ts';
import { bundleGpuExecutor, runComputeGpuBench } from '../../bench/compute-gpu.ts';
import { CHROMIUM_ARGS, launchBrowser, startServer } from './fixtures.ts';

/** The executor runs in real Chromium on SwiftShader, injected as an esbuild IIFE bundle. */
type GpuWindow = Window & { WosGpu: typeof Gpu; wosGpu: Gpu.WebGpuExecutor };
type Outcome = { out: ArrayLike<number>; type: string } | { code: string; message: string };

const kernel = (spec: WgslKernelSpec): Promise<Kernel> => makeKernel(crypto.subtle, spec);
const randomF32 = (n: number, s: number, scale = 1): Float32Array =>
  Float32Array.from({ length: n }, () => ((s = lcg(s)) / 2 ** 31 - 1) * scale);
const lcg = (s: number): number => (Math.imul(s, 1664525) + 1013904223) >>> 0;

/** Makes `window.wosGpu` in `page` (inline fallback); says `hasGpu/load().workers`. */
async function setUp(page: Page): Promise<string> {
  await page.goto(server.url);
  await page.addScriptTag({ content: bundle });
  return page.evaluate(async () => {
    const w = window as unknown as GpuWindow;
    const runFallback = w.WosGpu.inlineFallback();
    w.wosGpu = await w.WosGpu.WebGpuExecutor.create({ runFallback });
    return `${w.wosGpu.hasGpu}/${w.wosGpu.load().workers}`;
  });
}

/** Runs `k` in the page (playwright carries typed arrays both ways); errors come back as data. */
async function run(page: Page, k: Kernel, input: unknown, timeoutMs = 30_000): Promise<Outcome> {
  return page.evaluate(
    async ({ k, input, timeoutMs }) => {
      try {
        const ex = (window as unknown as GpuWindow).wosGpu;
        const out = (await ex.run(k, input, { timeoutMs })) as Float32Array;
        return { out, type: Object.prototype.toString.call(out).slice(8, -1) };
      } catch (e) {
        const err = e as { code?: string; message?: string };
        return { code: err.code ?? 'NONE', message: err.message ?? String(e) };
      }
    },
    { k, input, timeoutMs },
  );
}

const failure = (code: string, re: RegExp): object => ({
  code,
  message: expect.stringMatching(re),
});

function ok(r: Outcome, type: string): number[] {
  if ('code' in r) throw new Error(`run failed: ${r.code}: ${r.message}`);
  expect(r.type).toBe(type);
  return Array.from(r.out);
}

// The CPU versions, written independently of the kernels' own JS fallbacks.
const addRef = (a: Float32Array, b: Float32Array): number[] =>
  Array.from(a, (x, i) => Math.fround(x + b[i]!));
/** Worst |gpu − exact| over the f32 bound n·2⁻²³·Σ|a·b| (any summation order, FMA or not). */
function matmulError(got: number[], a: Float32Array, b: Float32Array, n: number): number {
  let worst = 0;
  for (let i = 0; i < n * n; i++) {
    let [sum, mag] = [0, 0];
    for (let k = 0; k < n; k++) {
      const p = a[Math.floor(i / n) * n + k]! * b[k * n + (i % n)]!;
      [sum, mag] = [sum + p, mag + Math.abs(p)];
    }
    worst = Math.max(worst, Math.abs(got[i]! - sum) / (mag * n * 2 ** -23 + 1e-7));
  }
  return worst;
}
const collatzRef = (x: number): number => {
  let steps = 0;
  for (; x > 1 && steps < 1000; steps++) x = x % 2 ? 3 * x + 1 : x / 2;
  return steps;
};
const hashRef = (key: number, seed: number): number => {
  let h = (key ^ seed) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

let bundle: string;
let server: WosServer;
const [A, B] = [randomF32(100_000, 1, 1000), randomF32(100_000, 2, 1000)];
const N = 64;
const [MA, MB] = [randomF32(N * N, 3), randomF32(N * N, 4)];
const AB = { a: A, b: B };
const STARTS = Uint32Array.from({ length: 70_000 }, (_, i) => i + 1);

beforeAll(async () => {
  bundle = await bundleGpuExecutor();
  server = await startServer();
});
afterAll(() => server?.close());

/** The same numbers, GPU or fallback: vector add, matmul and collatz against the CPU. */
async function checkNumbers(page: Page): Promise<void> {
  const add = await run(page, await kernel(K.vectorAddSpec()), AB);
  expect(ok(add, 'Float32Array')).toEqual(addRef(A, B));
  const mm = await run(page, await kernel(K.matmulSpec()), { a: MA, b: MB, n: N });
  expect(matmulError(ok(mm, 'Float32Array'), MA, MB, N)).toBeLessThan(1);
  const cz = await run(page, await kernel(K.collatzSpec()), { start: STARTS });
  expect(ok(cz, 'Uint32Array')).toEqual(Array.from(STARTS, collatzRef));
}

describe('WebGPU executor on SwiftShader', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await launchBrowser();
    page = await browser.newPage();
    expect(await setUp(page)).toBe('true/1');
  });
  afterAll(() => browser?.close());

  it('vector add, 64×64 matmul and collatz steps match the CPU', () => checkNumbers(page));

  it('dispatches past 65 535 workgroups in 2D, and compiles each kernel once', async () => {
    const k = await kernel(K.hashSpec(1)); // workgroup size 1: 70 000 workgroups
    const stats = (): Promise<{ compiles: number }> =>
      page.evaluate(() => ({ ...(window as unknown as GpuWindow).wosGpu.stats }));
    const r = await run(page, k, { key: STARTS, seed: 0xdeadbeef });
    expect(ok(r, 'Uint32Array')).toEqual(Array.from(STARTS, (x) => hashRef(x, 0xdeadbeef)));
    const before = (await stats()).compiles;
    ok(await run(page, k, { key: STARTS, seed: 7 }), 'Uint32Array');
    expect((await stats()).compiles).toBe(before);
  });

  it('bad WGSL and mismatched bindings fail with KERNEL_LOAD_FAILED and the WGSL error', async () => {
    const spec = K.vectorAddSpec();
    const src = (from: string, to: string): Partial<WgslKernelSpec> => ({
      source: spec.source.replace(from, to),
    });
    const retype = (name: string, type: 'storage' | 'storage-read'): Partial<WgslKernelSpec> => ({
      bindings: spec.bindings.map((b) => (b.name === name ? { ...b, type } : b)),
    });
    const cases: [Partial<WgslKernelSpec>, RegExp][] = [
      [src('a[i] + b[i]', 'a[i] +'), /WGSL error: line 8:\d+: .*out\[i\] = a\[i\] \+/],
      [src('a[i] + b[i]', 'a[i] + 1u'), /line 8:.*(f32.*u32|u32.*f32)/],
      [retype('out', 'storage-read'), /read-write storage binding named "out"/],
      [retype('a', 'storage'), /binding|layout/i],
      [{ entryPoint: 'nope' }, /nope/],
      [{ workgroupSize: 32 }, /@workgroup_size\(64\) is not workgroupSize 32/],
    ];
    for (const [patch, message] of cases) {
      const r = await run(page, await kernel({ ...spec, ...patch }), AB);
      expect(r).toMatchObject(failure('KERNEL_LOAD_FAILED', message));
    }
    ok(await run(page, await kernel(spec), AB), 'Float32Array');
  });

  it('bad input fails with BAD_INPUT and says what is wrong', async () => {
    const add = await kernel(K.vectorAddSpec());
    const mm = await kernel(K.matmulSpec());
    const half = await kernel({ ...K.matmulSpec(), outScale: 0.5 });
    const [one, two, three] = [[1], [1, 2], [1, 2, 3]].map((d) => Float32Array.from(d));
    const cases: [Kernel, unknown, RegExp][] = [
      [add, { a: two }, /missing input field "b" \(binding 1, storage-read array<f32>\): pass a F/],
      [add, { a: two, b: Uint32Array.of(1, 2) }, /"b" .* must be a Float32Array, got Uint32Array/],
      [add, { a: two, b: 3 }, /must be a Float32Array, got number/],
      [add, { a: [1], b: one }, /"a" decides the dispatch size .* got Array/],
      [add, { a: one, b: new Float32Array(0) }, /"b" .* is empty/],
      [add, { a: one, b: one, out: one }, /"out" is the result buffer/],
      [add, 42, /must be an object of typed arrays keyed by binding name \(a, b, out\), got num/],
      [mm, { a: three, b: three, n: -1 }, /uniform "n" .* cannot hold -1/],
      [half, { a: three, b: three, n: 1 }, /3 × outScale 0.5 is not a whole number/],
    ];
    for (const [k, input, message] of cases) {
      expect(await run(page, k, input)).toMatchObject(failure('BAD_INPUT', message));
    }
  });

  it('serializes runs, reports its load and honours AbortSignal', async () => {
    const spin = await kernel(K.spinSpec());
    const r = await page.evaluate(async (k) => {
      const ex = (window as unknown as GpuWindow).wosGpu;
      const input = { key: new Uint32Array(4096), rounds: 20_000 };
      const code = (p: Promise<unknown>): Promise<string> =>
        p.then(
          () => 'OK',
          (e: { code: string }) => e.code,
        );
      const queuedAbort = new AbortController();
      const runningAbort = new AbortController();
      const t0 = performance.now();
      const first = code(ex.run(k, input, { timeoutMs: 30_000, signal: runningAbort.signal }));
      const second = code(ex.run(k, input, { timeoutMs: 30_000, signal: queuedAbort.signal }));
      const third = code(ex.run(k, input, { timeoutMs: 30_000 }));
      const loads = [ex.load()];
      queuedAbort.abort();
      loads.push(ex.load());
      setTimeout(() => runningAbort.abort(), 20);
      const codes = [await first];
      const abortMs = performance.now() - t0;
      codes.push(await second, await third);
      codes.push(await code(ex.run(k, input, { timeoutMs: 1000, signal: AbortSignal.abort() })));
      ex.resize(0); // donation off: no GPU work taken
      codes.push(await code(ex.run(k, input, { timeoutMs: 1000 })), (ex.resize(1), 'ON'));
      return { loads: [...loads, ex.load()], codes, abortMs };
    }, spin);
    expect(r.loads).toEqual([
      { workers: 1, busy: 1, queued: 2 },
      { workers: 1, busy: 1, queued: 1 },
      { workers: 1, busy: 0, queued: 0 },
    ]);
    expect(r.codes).toEqual(['ABORTED', 'ABORTED', 'OK', 'ABORTED', 'NO_CAPACITY', 'ON']);
    expect(r.abortMs).toBeLessThan(1000);
  });

  it('a run past its time limit gets KERNEL_TIMEOUT, and the next run still works', async () => {
    const spin = await kernel(K.spinSpec());
    const slow = await run(page, spin, { key: new Uint32Array(4096), rounds: 60_000 }, 100);
    expect(slow).toMatchObject(failure('KERNEL_TIMEOUT', /100 ms/));
    const add = await run(page, await kernel(K.vectorAddSpec()), AB);
    expect(ok(add, 'Float32Array')).toEqual(addRef(A, B));
  });

  it('a lost device fails the run in flight with GPU_LOST; the next run makes a new device', async () => {
    const spin = await kernel(K.spinSpec());
    // Lose the device just after the run's submit: its work is then surely in flight.
    await page.evaluate(`{ const q = GPUQueue.prototype, submit = q.submit;
      q.submit = function (b) { submit.call(this, b); q.submit = submit; setTimeout(() => wosGpu.loseDevice()); }; }`);
    const r = await run(page, spin, { key: new Uint32Array(4096), rounds: 40_000 });
    expect(r).toMatchObject(failure('GPU_LOST', /device was lost.*retry/));
    await checkNumbers(page);
  });

  it('runs in a dedicated worker too', async () => {
    const k = await kernel(K.vectorAddSpec());
    const r = await page.evaluate(
      async ({ bundle, k, input }) => {
        const src = `${bundle}\nonmessage = async (e) => { const ex = await WosGpu.WebGpuExecutor.create();
          postMessage({ gpu: ex.hasGpu, out: await ex.run(e.data.k, e.data.input, { timeoutMs: 9e3 }) }); };`;
        const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })));
        w.postMessage({ k, input });
        return new Promise<{ gpu: boolean; out: Float32Array }>(
          (res) => (w.onmessage = (e) => res(e.data)),
        );
      },
      { bundle, k, input: AB },
    );
    expect(r.gpu).toBe(true);
    expect(Array.from(r.out)).toEqual(addRef(A, B));
  });

  it('the benchmark runs and agrees with JS', async () => {
    const r = await runComputeGpuBench(page, { n: 64, runs: 1 });
    expect(r.adapter).toMatchObject({ architecture: 'swiftshader', isFallbackAdapter: true });
    expect(r.gpuTiled!.gflops).toBeGreaterThan(0);
    expect(r.maxAbsDiff).toBeLessThan(1e-4);
  });
});

describe('without a WebGPU adapter the JS fallback gives the same numbers', () => {
  let browser: Browser;
  afterAll(() => browser?.close());

  it('Chromium without --enable-unsafe-webgpu (no adapter)', async () => {
    const args = CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args });
    const page = await browser.newPage();
    expect(await setUp(page)).toBe('false/0');
    await checkNumbers(page);
    const noFallback = await kernel({ ...K.vectorAddSpec(), fallback: undefined });
    const r = await run(page, noFallback, AB);
    expect(r).toMatchObject(failure('NO_GPU', /found no adapter.*no JS fallback/));
    const bad = await run(page, await kernel(K.vectorAddSpec()), { a: A });
    expect(bad).toMatchObject(failure('BAD_INPUT', /missing input field "b"/));
  });

  it('navigator.gpu deleted, and no fallback runner: NO_GPU', async () => {
    await browser.close();
    browser = await launchBrowser();
    const ctx = await browser.newContext();
    await ctx.addInitScript(() => delete (Navigator.prototype as { gpu?: unknown }).gpu);
    const page = await ctx.newPage();
    expect(await setUp(page)).toBe('false/0');
    await checkNumbers(page);
    const noRunner = await page.evaluate(
      async (k) => {
        const w = window as unknown as GpuWindow;
        const ex = await w.WosGpu.WebGpuExecutor.create();
        const input = { a: new Float32Array(1), b: new Float32Array(1) };
        const msg = (e: Error): string => e.message;
        const noGpu = await ex.run(k, input, { timeoutMs: 1000 }).catch(msg);
        ex.close();
        return [noGpu, await ex.run(k, input, { timeoutMs: 1000 }).catch(msg)];
      },
      await kernel(K.vectorAddSpec()),
    );
    expect(noRunner[0]).toMatch(/exposes no navigator.gpu.*needs a CPU executor \(runFallback\)/);
    expect(noRunner[1]).toMatch(/WebGPU executor is closed/);
  });
});
