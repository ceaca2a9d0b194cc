import { KernelError, KernelTimeoutError } from '../../core/compute/errors.ts';
import type { Executor, ExecutorLoad, RunOptions } from '../../core/compute/executor.ts';
import type { Kernel } from '../../core/compute/kernel.ts';
import { AbortError, ArgumentError, ClosedError, WosError } from '../../core/errors.ts';
import {
  failureError,
  parseReply,
  SandboxCrashedError,
  SandboxUnavailableError,
} from './sandbox/errors.ts';
import type { RunRequest } from './sandbox/protocol.ts';
import { isDataCloneError, transferables } from './sandbox/transfer.ts';
import { WorkerSet, type Slot } from './sandbox/worker-set.ts';
import { kernelWorkerSource } from './sandbox/worker-source.ts';

export interface SandboxPoolOptions {
  /** Workers to start with (default `navigator.hardwareConcurrency`). */
  workers?: number;
  /** Where the hidden sandbox iframe goes (default the global `document`). */
  document?: Document;
  /**
   * Only runs of one kernel share a worker, so no kernel can tamper with another's globals or
   * results; a worker switching kernels is replaced by a fresh one (default true).
   */
  isolateKernels?: boolean;
  /**
   * Move the input's ArrayBuffers to the worker instead of copying them: the caller's buffers
   * are detached (length 0) once the task starts (default true).
   */
  transferInput?: boolean;
  /** Let kernels compile WebAssembly (CSP `'wasm-unsafe-eval'`; default true). */
  allowWasm?: boolean;
  /**
   * Courtesy stubs that give a clear SANDBOX_VIOLATION for network and storage APIs (default
   * true). Off, only the opaque origin and the CSP stand: for tests that prove they hold.
   */
  stubs?: boolean;
  /** How long the sandbox may take to start (default 10 000 ms). */
  startTimeoutMs?: number;
}

interface Task {
  kernel: Kernel;
  input: unknown;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  resolve(value: unknown): void;
  reject(e: WosError): void;
  onAbort(): void;
  id: number;
  slot?: Slot<Task>;
  timer?: ReturnType<typeof setTimeout>;
}

const MAX_WORKERS = 256;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const MAX_START_FAILURES = 3;
/** More sandbox losses than this within a minute and the pool gives up. */
const MAX_LOSSES = 3;

/**
 * The browser's executor for `js` kernels: a pool of Web Workers inside one hidden
 * opaque-origin iframe with a no-network CSP. Tasks queue FIFO when every worker is busy; a
 * task past its time limit (or aborted) has its worker terminated and replaced. If the whole
 * sandbox dies (a kernel out of memory ends its process), the running tasks fail with
 * SANDBOX_CRASHED and a new sandbox takes over.
 */
export class SandboxPool implements Executor {
  readonly kinds = ['js'] as const;
  /** Resolves when the sandbox is up; rejects (and fails every task) if it cannot start. */
  readonly ready: Promise<void>;
  private workers: WorkerSet<Task>;
  private readonly queue: Task[] = [];
  private readonly options: SandboxPoolOptions;
  private readonly workerSource = kernelWorkerSource();
  private nextTask = 1;
  private started = false;
  private closed = false;
  private broken: WosError | undefined;
  private startFailures = 0;
  private losses: number[] = [];

  constructor(options: SandboxPoolOptions = {}) {
    this.options = options;
    this.workers = this.boot(checkSize(options.workers ?? (navigator.hardwareConcurrency || 1)));
    this.ready = this.workers.frame.ready;
  }

  /** Starts a sandbox with `size` workers; tasks wait until it answers (not their time). */
  private boot(size: number): WorkerSet<Task> {
    const o = this.options;
    const own = (): boolean => set === this.workers && !this.closed && !this.broken;
    const set: WorkerSet<Task> = new WorkerSet<Task>(
      {
        frame: {
          document: o.document ?? document,
          workerSource: this.workerSource,
          allowWasm: o.allowWasm ?? true,
          startTimeoutMs: o.startTimeoutMs ?? 10_000,
          onWorkerError: (wid, message) => own() && this.onWorkerError(wid, message),
          onLost: (reason) => own() && this.onLost(reason),
        },
        stubs: o.stubs ?? true,
        isolate: o.isolateKernels ?? true,
        onMessage: (slot, data) => this.onReply(slot, data),
        onMessageError: (slot) => this.kill(slot, new KernelError('its result could not be read')),
      },
      size,
    );
    this.started = false;
    set.frame.ready.then(
      () => {
        if (!own()) return;
        this.started = true;
        this.pump();
      },
      (e: unknown) =>
        own() && this.fail(e instanceof WosError ? e : new SandboxUnavailableError(`${e}`)),
    );
    return set;
  }

  /** The sandbox died: fail what ran there, start a new one for the rest. */
  private onLost(reason: string): void {
    const now = performance.now();
    this.losses = [...this.losses.filter((t) => now - t < 60_000), now];
    if (this.losses.length > MAX_LOSSES) {
      return this.fail(
        new SandboxUnavailableError(`lost ${this.losses.length} times in a minute: ${reason}`),
      );
    }
    const error = new SandboxCrashedError(reason);
    const old = this.workers;
    for (const s of old.all()) if (s.task) this.settle(s.task, error);
    old.close();
    this.workers = this.boot(old.size);
  }

  load(): ExecutorLoad {
    return { workers: this.workers.size, busy: this.workers.busy(), queued: this.queue.length };
  }

  run(kernel: Kernel, input: unknown, opts: RunOptions): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError('sandbox pool'));
    if (this.broken) return Promise.reject(this.broken);
    if (kernel.spec.kind !== 'js') {
      return Promise.reject(
        new ArgumentError(`the sandbox pool runs js kernels, not ${kernel.spec.kind}`),
      );
    }
    const { timeoutMs, signal } = opts;
    if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
      return Promise.reject(new ArgumentError(`timeoutMs must be in 1..${MAX_TIMEOUT_MS} ms`));
    }
    if (signal?.aborted) return Promise.reject(new AbortError('kernel run', signal.reason));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => this.abort(task);
      const task: Task = { kernel, input, timeoutMs, signal, resolve, reject, onAbort, id: 0 };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      this.pump();
    });
  }

  resize(workers: number): void {
    if (this.closed) throw new ClosedError('sandbox pool');
    this.workers.resize(checkSize(workers));
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.fail(new ClosedError('sandbox pool'));
    this.closed = true;
  }

  private fail(e: WosError): void {
    if (this.closed || this.broken) return;
    if (!(e instanceof ClosedError)) this.broken = e;
    for (const t of this.queue.splice(0)) this.settle(t, e);
    for (const s of this.workers.all()) if (s.task) this.settle(s.task, e);
    this.workers.close();
  }

  private pump(): void {
    while (this.started && !this.closed && !this.broken && this.queue.length > 0) {
      const head = this.queue[0]!;
      const slot = this.workers.pick(head.kernel.id);
      if (!slot) break;
      this.queue.shift();
      this.start(slot, head);
    }
    const set = this.workers;
    if (!this.closed && !this.broken && set.busy() > 0) set.frame.watch(() => set.busy() > 0);
  }

  private start(slot: Slot<Task>, task: Task): void {
    const { kernel, input } = task;
    task.id = this.nextTask++;
    task.input = undefined;
    const req: RunRequest = { t: 'run', id: task.id, kernelId: kernel.id, input };
    if (!slot.kernels.has(kernel.id)) req.source = kernel.spec.source;
    try {
      post(slot.port, req, this.options.transferInput !== false ? transferables(input) : []);
    } catch (e) {
      return this.settle(task, new ArgumentError(`the input cannot be sent to a worker: ${e}`));
    }
    slot.kernels.add(kernel.id);
    slot.task = task;
    slot.lastUsed = performance.now();
    task.slot = slot;
    const limit = (): void => this.kill(slot, new KernelTimeoutError(task.timeoutMs));
    task.timer = setTimeout(limit, task.timeoutMs);
  }

  private onReply(slot: Slot<Task>, data: unknown): void {
    const reply = parseReply(data);
    if (reply?.t === 'up') this.startFailures = 0;
    const task = slot.task;
    if (!reply || reply.t === 'up' || !task || reply.id !== task.id) return;
    if (reply.t === 'ok') {
      this.settle(task, undefined, reply.output);
    } else {
      if (reply.kind === 'load') slot.kernels.delete(task.kernel.id);
      this.settle(task, failureError(reply));
    }
    if (slot.retiring) this.workers.destroy(slot);
    this.pump();
  }

  /** The bootstrap reports only workers that never started (kernel errors stay inside). */
  private onWorkerError(wid: number, message: string): void {
    const slot = this.workers.get(wid);
    if (!slot) return;
    if (++this.startFailures >= MAX_START_FAILURES) {
      return this.fail(new SandboxUnavailableError(`workers fail to start: ${message}`));
    }
    this.kill(slot, new SandboxUnavailableError(`a worker failed to start: ${message}`));
  }

  private abort(task: Task): void {
    const error = new AbortError('kernel run', task.signal?.reason);
    if (task.slot) return this.kill(task.slot, error);
    const i = this.queue.indexOf(task);
    if (i >= 0) this.queue.splice(i, 1);
    this.settle(task, error);
  }

  /** Terminates a worker mid-task, fails its task and brings the pool back to size. */
  private kill(slot: Slot<Task>, error: WosError): void {
    const task = slot.task;
    this.workers.destroy(slot);
    if (task) this.settle(task, error);
    if (this.closed || this.broken) return;
    this.workers.fill();
    this.pump();
  }

  private settle(task: Task, error: WosError | undefined, output?: unknown): void {
    clearTimeout(task.timer);
    task.signal?.removeEventListener('abort', task.onAbort);
    if (task.slot?.task === task) task.slot.task = undefined;
    task.slot = undefined;
    if (error) task.reject(error);
    else task.resolve(output);
  }
}

/** Posts with the given transfer list, falling back to a copy for buffers that cannot move. */
function post(port: MessagePort, req: RunRequest, transfer: Transferable[]): void {
  try {
    port.postMessage(req, transfer);
  } catch (e) {
    if (!isDataCloneError(e) || transfer.length === 0) throw e;
    port.postMessage(req);
  }
}

function checkSize(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_WORKERS) {
    throw new ArgumentError(`workers must be an integer in 0..${MAX_WORKERS}, got ${n}`);
  }
  return n;
}
