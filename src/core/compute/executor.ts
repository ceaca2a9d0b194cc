import type { Kernel } from './kernel.ts';

/**
 * Where a node actually runs kernels: the browser's sandboxed worker pool, the WebGPU runner,
 * or (in tests) an in-process fake. The compute service talks only to this interface.
 */
export interface RunOptions {
  /** Hard time limit: the worker running the task is terminated when it passes. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface ExecutorLoad {
  /** Workers this node donates. */
  workers: number;
  /** Tasks running now. */
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
}

export interface Executor {
  /** Which kernel kinds this executor runs (`js`, `wgsl`). */
  readonly kinds: readonly ('js' | 'wgsl')[];
  load(): ExecutorLoad;
  /**
   * Runs `kernel` on `input` and resolves with its output. Inputs and outputs are
   * structured-clonable values (ArrayBuffers and typed arrays included).
   * Rejects with a `WosError`: `KERNEL_ERROR` (the kernel threw; message and stack kept),
   * `KERNEL_TIMEOUT`, `SANDBOX_VIOLATION`, `ABORTED`, `KERNEL_LOAD_FAILED`, `NO_GPU`.
   */
  run(kernel: Kernel, input: unknown, opts: RunOptions): Promise<unknown>;
  /**
   * What one task of `kernel` costs where it runs (inside the worker, without queueing and
   * messaging), ms; undefined until measured.
   */
  taskMs?(kernel: Kernel): number | undefined;
  /** Changes the number of workers (the donation control). */
  resize(workers: number): void;
  close(): void;
}
