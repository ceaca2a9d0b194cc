import { KernelTimeoutError, NoCapacityError } from '../../../core/compute/errors.ts';
import type { Executor, ExecutorLoad, RunOptions } from '../../../core/compute/executor.ts';
import type { Kernel, WgslKernelSpec } from '../../../core/compute/kernel.ts';
import { AbortError, ClosedError, WosError } from '../../../core/errors.ts';
import {
  acquireDevice,
  compileKernel,
  dispatchKernel,
  type CompiledKernel,
  type SubmitState,
} from './gpu-device.ts';
import { GpuLostError, KernelLoadError, NoGpuError } from './gpu-errors.ts';
import { ARRAY_OF, prepareInput, type PreparedInput } from './gpu-input.ts';
import {
  navigatorGpu,
  type WgpuAdapterInfo,
  type WgpuDevice,
  type WgpuDeviceLostInfo,
  type WgpuLike,
} from './webgpu-types.ts';

/** Runs a kernel's JS `fallback` where there is no GPU (e.g. on the sandboxed CPU pool). */
export type FallbackRunner = (kernel: Kernel, input: unknown, opts: RunOptions) => Promise<unknown>;

export interface WebGpuExecutorOptions {
  /** `navigator.gpu` by default (page or dedicated worker); `null` means "no WebGPU here". */
  gpu?: WgpuLike | null;
  powerPreference?: 'low-power' | 'high-performance';
  /** Without it, a run on a node with no adapter rejects with `NO_GPU`. */
  runFallback?: FallbackRunner;
  /** Compiled pipelines kept per kernel id (default 32, least recently used dropped). */
  maxPipelines?: number;
}

interface Job {
  kernel: Kernel;
  spec: WgslKernelSpec;
  raw: unknown;
  input: PreparedInput;
  opts: RunOptions;
  state: SubmitState & { device: WgpuDevice | null };
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * The WebGPU executor of a node: runs `wgsl` kernels one at a time on this tab's (or worker's)
 * GPU device, with pipelines cached per kernel id.
 *
 * Time limits: submitted GPU work cannot be cancelled. At `timeoutMs` the caller gets
 * `KERNEL_TIMEOUT` and, if the work was already submitted, the device is destroyed so its
 * buffers are freed and its result never lands; the GPU itself (for SwiftShader, the GPU
 * process) stays busy until the dispatch ends, so the next run (on a new device) waits for it
 * and its own time limit counts that wait. An abort rejects the caller at once, but the next run
 * only starts when the aborted one has finished on the GPU or reached its time limit.
 */
export class WebGpuExecutor implements Executor {
  readonly kinds = ['wgsl'] as const;
  private readonly gpu: WgpuLike | undefined;
  private device: WgpuDevice | null = null;
  private acquiring: Promise<WgpuDevice | null> | null = null;
  private available = false;
  private enabled = true;
  private closed = false;
  private running: Job | null = null;
  private readonly queue: Job[] = [];
  private readonly pipelines = new Map<string, Promise<CompiledKernel>>();
  /** Kernels run on the GPU, pipelines compiled, runs failed by a lost device. */
  readonly stats = { runs: 0, compiles: 0, lost: 0 };

  private constructor(private readonly opts: WebGpuExecutorOptions) {
    this.gpu = opts.gpu === null ? undefined : (opts.gpu ?? navigatorGpu());
  }

  /** Requests the adapter and device now; without one the executor serves fallbacks only. */
  static async create(opts: WebGpuExecutorOptions = {}): Promise<WebGpuExecutor> {
    const executor = new WebGpuExecutor(opts);
    await executor.ensureDevice();
    return executor;
  }

  /** The adapter of the current device (plain copy: vendor, architecture, fallback flag). */
  adapterInfo: WgpuAdapterInfo | undefined;

  /** True while this executor has (or can make) a WebGPU device. */
  get hasGpu(): boolean {
    return this.available;
  }

  load(): ExecutorLoad {
    return {
      workers: this.enabled && this.available ? 1 : 0,
      busy: this.running ? 1 : 0,
      queued: this.queue.length,
    };
  }

  /** A GPU is one queue: 0 stops taking work (donation off), anything else turns it back on. */
  resize(workers: number): void {
    this.enabled = workers > 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new ClosedError('the WebGPU executor'));
    this.running?.reject(new ClosedError('the WebGPU executor'));
    this.dropDevice(this.device);
  }

  /** Destroys the device as a driver reset would: in-flight work fails with `GPU_LOST`. */
  loseDevice(): void {
    this.device?.destroy();
  }

  async run(kernel: Kernel, input: unknown, opts: RunOptions): Promise<unknown> {
    if (this.closed) throw new ClosedError('the WebGPU executor');
    if (!this.enabled) throw new NoCapacityError('a GPU (this node donates none now)');
    const spec = kernel.spec;
    if (spec.kind !== 'wgsl') {
      throw new KernelLoadError(
        kernel.id,
        `the WebGPU executor runs wgsl kernels, not ${spec.kind}`,
      );
    }
    if (opts.signal?.aborted) throw new AbortError('the GPU kernel', opts.signal.reason);
    const device = this.device;
    const prepared = prepareInput(spec, input, device?.limits);
    if (!this.available) return this.fallback(kernel, input, opts);
    if (prepared.outLength === 0) return new ARRAY_OF[prepared.out.element](0);
    return new Promise((resolve, reject) => {
      const state = { submitted: false, cancelled: false, device: null };
      const job: Job = { kernel, spec, raw: input, input: prepared, opts, state, resolve, reject };
      const signal = opts.signal;
      const onAbort = (): void => {
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        state.cancelled = true;
        reject(new AbortError('the GPU kernel', signal?.reason));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal?.removeEventListener('abort', onAbort);
      job.resolve = (v) => (done(), resolve(v));
      job.reject = (e) => (done(), reject(e));
      this.queue.push(job);
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.running = job;
    void this.execute(job).finally(() => {
      this.running = null;
      this.pump();
    });
  }

  /** Settles the caller, and resolves when the GPU may take the next job. */
  private async execute(job: Job): Promise<void> {
    const state = job.state;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), job.opts.timeoutMs);
    });
    const work = (async () => {
      const device = await this.ensureDevice();
      if (!device) return this.fallback(job.kernel, job.raw, job.opts);
      state.device = device;
      return this.onDevice(device, job, state);
    })();
    work.then(job.resolve, job.reject);
    const first = await Promise.race([
      work.then(
        () => 'done',
        () => 'done',
      ),
      timeout,
    ]);
    clearTimeout(timer);
    if (first !== 'timeout') return;
    job.reject(new KernelTimeoutError(job.opts.timeoutMs));
    state.cancelled = true;
    if (state.submitted) this.dropDevice(state.device);
  }

  private async onDevice(device: WgpuDevice, job: Job, state: SubmitState): Promise<unknown> {
    const work = (async () => {
      const compiled = await this.pipeline(device, job.kernel);
      return dispatchKernel(device, compiled, job.spec, job.input, state);
    })();
    let lostInfo: WgpuDeviceLostInfo | undefined;
    const lost = device.lost.then((info) => ({ lost: (lostInfo = info) }));
    let r = await Promise.race([
      work.then(
        (out) => ({ out }),
        (error: unknown) => ({ error }),
      ),
      lost,
    ]);
    if ('error' in r) {
      // A dying device fails its pending maps (a DOMException) a moment before `lost` settles.
      if (r.error instanceof WosError && !lostInfo) throw r.error;
      const grace = new Promise<{ error: unknown }>((res) => setTimeout(res, 100, r));
      r = await Promise.race([lost, grace]);
      if ('error' in r) {
        const msg = r.error instanceof Error ? r.error.message : String(r.error);
        throw new WosError('KERNEL_ERROR', `the GPU run failed: ${msg}`, { cause: r.error });
      }
    }
    if ('out' in r) return (this.stats.runs++, r.out);
    if (this.closed) throw new ClosedError('the WebGPU executor');
    if (!state.cancelled) this.stats.lost++;
    throw new GpuLostError(`${r.lost.reason}: ${r.lost.message.trim() || 'no details'}`);
  }

  private pipeline(device: WgpuDevice, kernel: Kernel): Promise<CompiledKernel> {
    let p = this.pipelines.get(kernel.id);
    if (p) {
      this.pipelines.delete(kernel.id); // re-insert: most recently used last
    } else {
      p = compileKernel(device, kernel);
      this.stats.compiles++;
    }
    this.pipelines.set(kernel.id, p);
    const max = this.opts.maxPipelines ?? 32;
    for (const id of this.pipelines.keys()) {
      if (this.pipelines.size <= max) break;
      this.pipelines.delete(id);
    }
    return p;
  }

  private fallback(kernel: Kernel, input: unknown, opts: RunOptions): Promise<unknown> {
    const spec = kernel.spec;
    const why = this.gpu
      ? 'navigator.gpu.requestAdapter() found no adapter'
      : 'this browser exposes no navigator.gpu (WebGPU is off or unsupported)';
    if (spec.kind !== 'wgsl' || !spec.fallback) {
      return Promise.reject(
        new NoGpuError(
          `no GPU on this node (${why}) and the kernel has no JS fallback; run it on a node that offers a GPU`,
        ),
      );
    }
    if (!this.opts.runFallback) {
      return Promise.reject(
        new NoGpuError(
          `no GPU on this node (${why}); the kernel's JS fallback needs a CPU executor (runFallback) here`,
        ),
      );
    }
    return this.opts.runFallback(kernel, input, opts);
  }

  private ensureDevice(): Promise<WgpuDevice | null> {
    if (this.device) return Promise.resolve(this.device);
    if (this.closed || !this.gpu) return Promise.resolve(null);
    this.acquiring ??= this.acquire(this.gpu).finally(() => (this.acquiring = null));
    return this.acquiring;
  }

  private async acquire(gpu: WgpuLike): Promise<WgpuDevice | null> {
    const got = await acquireDevice(gpu, this.opts.powerPreference).catch(() => null);
    this.available = got !== null;
    if (!got) return null;
    const { device, info } = got;
    this.adapterInfo = info;
    if (this.closed) return (device.destroy(), null);
    this.device = device;
    this.pipelines.clear();
    void device.lost.then(() => this.dropDevice(device));
    return device;
  }

  /** Forgets `device` (and its pipelines); the next run makes a new one. */
  private dropDevice(device: WgpuDevice | null): void {
    if (!device) return;
    if (this.device === device) {
      this.device = null;
      this.pipelines.clear();
    }
    device.destroy();
  }
}
