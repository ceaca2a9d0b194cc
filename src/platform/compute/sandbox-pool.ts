import { KernelError, KernelTimeoutError } from '../../core/compute/errors.ts';
import type { Executor, ExecutorLoad, RunOptions } from '../../core/compute/executor.ts';
import type { Kernel } from '../../core/compute/kernel.ts';
import { Deadlines } from '../../core/deadlines.ts';
import { AbortError, ArgumentError, ClosedError, WosError } from '../../core/errors.ts';
import {
  failureError,
  parseReply,
  SandboxCrashedError,
  SandboxUnavailableError,
} from './sandbox/errors.ts';
import { FLUSH_MS, type RunRequest } from './sandbox/protocol.ts';
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
   * are detached (length 0) once the task starts (default true). Tiny tasks sent to a worker
   * together are copied.
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
  /** The run it is part of, while it runs. */
  run?: Run;
  /** Runs alone: it was in a run whose worker died, and it may be the one to blame. */
  solo?: boolean;
  settled?: boolean;
}

/** Tasks of one kernel sent to a worker in one message; they run there in order. */
interface Run {
  id: number;
  slot: Slot<Run>;
  tasks: Task[];
  /** Tasks before this index have their results. */
  next: number;
  timeoutMs: number;
}

const MAX_WORKERS = 256;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const MAX_START_FAILURES = 3;
/** More sandbox losses than this within a minute and the pool gives up. */
const MAX_LOSSES = 3;
/** Most tasks in one message to a worker. */
const MAX_RUN = 64;
/** Tasks of a kernel go to a worker together when they take this long in all, ms. */
const RUN_MS = 2;

/**
 * The browser's executor for `js` kernels: a pool of Web Workers inside one hidden
 * opaque-origin iframe with a no-network CSP. Tasks queue FIFO when every worker is busy; a
 * task past its time limit (or aborted) has its worker terminated and replaced. If the whole
 * sandbox dies (a kernel out of memory ends its process), the running tasks fail with
 * SANDBOX_CRASHED and a new sandbox takes over.
 *
 * Tiny tasks waiting for a worker go to it together, one message for up to ~2 ms of work by
 * the kernel's measured time (a cross-process round trip costs ~0.1 ms). When the worker of
 * such a run dies, its unfinished tasks run again one by one, so a timeout or crash is laid at
 * the right task's door.
 */
export class SandboxPool implements Executor {
  readonly kinds = ['js'] as const;
  /** Resolves when the sandbox is up; rejects (and fails every task) if it cannot start. */
  readonly ready: Promise<void>;
  private workers: WorkerSet<Run>;
  private readonly queue: Task[] = [];
  /** Time limits of the runs in progress, on one timer. */
  private readonly limits = new Deadlines<Run>(
    {
      now: () => performance.now(),
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    },
    (run) => {
      if (run.slot.task === run)
        this.kill(run.slot, new KernelTimeoutError(run.timeoutMs), undefined);
    },
  );
  /** Each kernel's time per task inside the worker, ms (moving average). */
  private readonly taskTime = new Map<string, number>();
  private readonly options: SandboxPoolOptions;
  private readonly workerSource = kernelWorkerSource();
  private nextRun = 1;
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
  private boot(size: number): WorkerSet<Run> {
    const o = this.options;
    const own = (): boolean => set === this.workers && !this.closed && !this.broken;
    const set: WorkerSet<Run> = new WorkerSet<Run>(
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
        onMessageError: (slot) =>
          this.kill(slot, new KernelError('its result could not be read'), undefined),
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
    for (const s of old.all()) if (s.task) this.unfinished(s.task, error, undefined);
    old.close();
    this.workers = this.boot(old.size);
  }

  /** Mean time per task of `kernel` inside a worker, ms, once it has run here. */
  taskMs(kernel: Kernel): number | undefined {
    return this.taskTime.get(kernel.id);
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
    if (this.workers.size === 0) return Promise.reject(noWorkers());
    return new Promise((resolve, reject) => {
      const onAbort = (): void => this.abort(task);
      const task: Task = { kernel, input, timeoutMs, signal, resolve, reject, onAbort };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      this.pump();
    });
  }

  resize(workers: number): void {
    if (this.closed) throw new ClosedError('sandbox pool');
    this.workers.resize(checkSize(workers));
    // No worker will ever take what waits: it fails now, to be run elsewhere (NO_EXECUTOR is
    // retried on another node by the requester).
    if (workers === 0) for (const t of this.queue.splice(0)) this.settle(t, noWorkers());
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
    for (const s of this.workers.all()) for (const t of s.task?.tasks ?? []) this.settle(t, e);
    this.limits.clear();
    this.workers.close();
  }

  private pump(): void {
    while (this.started && !this.closed && !this.broken && this.queue.length > 0) {
      const head = this.queue[0]!;
      const slot = this.workers.pick(head.kernel.id);
      if (!slot) break;
      const n = this.runSize(head);
      let k = 1;
      while (k < n && k < this.queue.length) {
        const t = this.queue[k]!;
        if (t.solo || t.kernel.id !== head.kernel.id || t.timeoutMs !== head.timeoutMs) break;
        k++;
      }
      this.start(slot, this.queue.splice(0, k));
    }
    const set = this.workers;
    if (!this.closed && !this.broken && set.busy() > 0) set.frame.watch(() => set.busy() > 0);
  }

  /** How many queued tasks like `head` to send at once: ~RUN_MS of work, spread over idle workers. */
  private runSize(head: Task): number {
    const ms = this.taskTime.get(head.kernel.id);
    if (head.solo || ms === undefined || this.queue.length === 1) return 1;
    const fit = Math.min(MAX_RUN, Math.floor(RUN_MS / Math.max(ms, 0.001)));
    if (fit <= 1) return 1;
    const idle = Math.max(1, this.workers.size - this.workers.busy());
    return Math.max(1, Math.min(fit, Math.ceil(this.queue.length / idle)));
  }

  private start(slot: Slot<Run>, tasks: Task[]): void {
    const kernel = tasks[0]!.kernel;
    const run: Run = { id: this.nextRun++, slot, tasks, next: 0, timeoutMs: tasks[0]!.timeoutMs };
    const inputs = tasks.map((t) => t.input);
    const req: RunRequest = { t: 'run', id: run.id, kernelId: kernel.id, inputs };
    if (!slot.kernels.has(kernel.id)) req.source = kernel.spec.source;
    // A lone task's buffers move; tasks sent together are copied, as they may have to run
    // again elsewhere (see `unfinished`).
    const lone = tasks.length === 1;
    try {
      post(
        slot.port,
        req,
        lone && this.options.transferInput !== false ? transferables(inputs) : [],
      );
    } catch (e) {
      if (tasks.length === 1) {
        return this.settle(
          tasks[0]!,
          new ArgumentError(`the input cannot be sent to a worker: ${e}`),
        );
      }
      for (const t of tasks) t.solo = true; // find the one that cannot be sent
      this.queue.unshift(...tasks);
      return;
    }
    for (const t of tasks) {
      if (lone) t.input = undefined;
      t.run = run;
    }
    slot.kernels.add(kernel.id);
    slot.task = run;
    slot.lastUsed = performance.now();
    this.arm(run);
  }

  /** (Re)starts the time limit of the run's next task: its own, plus the report interval. */
  private arm(run: Run): void {
    this.limits.add(run, run.timeoutMs + (run.tasks.length > 1 ? FLUSH_MS : 0));
  }

  private onReply(slot: Slot<Run>, data: unknown): void {
    const run = slot.task;
    const reply = parseReply(data, run ? run.tasks.length - run.next : 0);
    if (reply?.t === 'up') this.startFailures = 0;
    if (!reply || reply.t === 'up' || !run || reply.id !== run.id || reply.at !== run.next) return;
    const n = reply.items.length;
    const per = reply.ms / n;
    const old = this.taskTime.get(run.tasks[0]!.kernel.id);
    this.taskTime.set(run.tasks[0]!.kernel.id, old === undefined ? per : old * 0.8 + per * 0.2);
    for (const item of reply.items) {
      const task = run.tasks[run.next++]!;
      if (item.t === 'ok') this.settle(task, undefined, item.output);
      else {
        if (item.kind === 'load') slot.kernels.delete(task.kernel.id);
        this.settle(task, failureError(item));
      }
    }
    if (run.next < run.tasks.length) return this.arm(run);
    this.limits.delete(run);
    slot.task = undefined;
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
    const error = new SandboxUnavailableError(`a worker failed to start: ${message}`);
    this.kill(slot, error, undefined);
  }

  private abort(task: Task): void {
    const error = new AbortError('kernel run', task.signal?.reason);
    if (task.run) return this.kill(task.run.slot, error, task);
    const i = this.queue.indexOf(task);
    if (i >= 0) this.queue.splice(i, 1);
    this.settle(task, error);
  }

  /**
   * Terminates a worker mid-run and brings the pool back to size. `error` goes to `culprit`,
   * or to the unfinished task if there is only one; see `unfinished`.
   */
  private kill(slot: Slot<Run>, error: WosError, culprit: Task | undefined): void {
    const run = slot.task;
    this.workers.destroy(slot);
    if (run) this.unfinished(run, error, culprit);
    if (this.closed || this.broken) return;
    this.workers.fill();
    this.pump();
  }

  /**
   * A run's worker is gone. With a known culprit, it fails and the rest queue again; else a
   * lone unfinished task fails, and several queue again to run one by one (any might be
   * the one that hung or crashed the worker).
   */
  private unfinished(run: Run, error: WosError, culprit: Task | undefined): void {
    this.limits.delete(run);
    if (run.slot.task === run) run.slot.task = undefined;
    const rest = run.tasks.slice(run.next).filter((t) => !t.settled);
    for (const t of rest) t.run = undefined;
    if (culprit) this.settle(culprit, error);
    else if (rest.length === 1) return this.settle(rest[0]!, error);
    const again = rest.filter((t) => t !== culprit);
    if (!culprit) for (const t of again) t.solo = true;
    this.queue.unshift(...again);
  }

  private settle(task: Task, error: WosError | undefined, output?: unknown): void {
    if (task.settled) return;
    task.settled = true;
    task.signal?.removeEventListener('abort', task.onAbort);
    task.run = undefined;
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

const noWorkers = (): WosError =>
  new WosError(
    'NO_EXECUTOR',
    'this node donates no CPU workers now (donation 0); raise it in the Compute view',
  );

function checkSize(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_WORKERS) {
    throw new ArgumentError(`workers must be an integer in 0..${MAX_WORKERS}, got ${n}`);
  }
  return n;
}
