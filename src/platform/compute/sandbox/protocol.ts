/**
 * Messages of the sandboxed worker pool. Three parties: the page (trusted), the bootstrap
 * script of the opaque-origin iframe (trusted, never runs kernel code) and the kernel workers
 * (run foreign code). The page checks every worker reply before using it.
 */

/** Page → iframe bootstrap, over the control port. */
export type FrameRequest =
  | { t: 'init'; workerSource: string }
  /** Carries one transferred port: the worker's end of its page channel. */
  | { t: 'spawn'; wid: number; stubs: boolean }
  | { t: 'kill'; wid: number }
  /** Liveness, while tasks run: a kernel out of memory takes the sandbox's process down. */
  | { t: 'ping' };

/** Iframe bootstrap → page. */
export type FrameEvent =
  | { t: 'ready' }
  | { t: 'pong' }
  /** An error event on a worker that never started (kernels' own errors are not reported). */
  | { t: 'worker-error'; wid: number; message: string };

/** Iframe bootstrap → worker, once, with the page port. The worker answers `'up'` to it. */
export interface WorkerInit {
  /** Replace network and storage APIs with stubs that throw a clear error (default on). */
  stubs: boolean;
}

/**
 * Page → worker: one or more tasks of one kernel, run one after another. `source` is sent the
 * first time a worker sees a kernel.
 */
export interface RunRequest {
  t: 'run';
  id: number;
  kernelId: string;
  source?: string;
  inputs: unknown[];
}

export type FailureKind = 'kernel' | 'load' | 'violation' | 'clone';

export type ItemReply =
  | { t: 'ok'; output: unknown }
  | { t: 'err'; kind: FailureKind; message: string; stack?: string; api?: string };

/**
 * Worker → page. `up` once the worker has hardened its globals and listens. `done`: the
 * results of the run's tasks `at`, `at + 1`, … in order (a long run reports in several parts,
 * at least every `FLUSH_MS`), with `ms`, the time its kernel calls took in the worker.
 */
export type WorkerReply =
  { t: 'up' } | { t: 'done'; id: number; at: number; items: ItemReply[]; ms: number };

/** A worker in a run reports what is done when this long has passed since its last report. */
export const FLUSH_MS = 4;
