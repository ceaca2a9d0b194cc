import { KernelError, KernelTimeoutError } from '../../core/compute/errors.ts';
import type { Executor, ExecutorLoad, RunOptions } from '../../core/compute/executor.ts';
import type { Kernel } from '../../core/compute/kernel.ts';
import { AbortError, ArgumentError, ClosedError, type WosError } from '../../core/errors.ts';
import { failureError, parseReply, SandboxUnavailableError } from './sandbox/errors.ts';
import type { RunRequest } from './sandbox/protocol.ts';
import { SandboxFrame } from './sandbox/sandbox-frame.ts';
import { isDataCloneError, transferables } from './sandbox/transfer.ts';
import { fetchKernelWorkerSource } from './sandbox/worker-source.ts';

export interface SandboxPoolOptions {
  /** Workers to start with (default `navigator.hardwareConcurrency`). */
  workers?: number;
  /** Where the hidden sandbox iframe goes (default the global `document`). */
  document?: Document;
  /** The kernel worker's script text (default: the bundled `workers/kernel-worker.ts`). */
  workerSource?: string | Promise<string>;
  /** Only runs of one kernel share a worker, so no kernel can tamper with another's (default true). */
  isolateKernels?: boolean;
  /** Move input ArrayBuffers to the worker instead of copying; the caller's are detached (default true). */
  transferInput?: boolean;
  /** Let kernels compile WebAssembly (CSP `'wasm-unsafe-eval'`; default true). */
  allowWasm?: boolean;
  /** Courtesy stubs that give a clear error for network and storage APIs (default true). */
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
  slot?: Slot;
  timer?: ReturnType<typeof setTimeout>;
}

interface Slot {
  wid: number;
  port: MessagePort;
  kernels: Set<string>;
  task?: Task;
  up: boolean;
  retiring: boolean;
  lastUsed: number;
}

const MAX_WORKERS = 256;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const MAX_START_FAILURES = 3;

/**
 * The browser's executor for `js` kernels: a pool of Web Workers inside one hidden
 * opaque-origin iframe with a no-network CSP. Tasks queue FIFO when every worker is busy; a
 * task past its time limit (or aborted) has its worker terminated and replaced.
 */
export class SandboxPool implements Executor {
  readonly kinds = ['js'] as const;
  /** Resolves when the sandbox is up; rejects (and fails every task) if it cannot start. */
  readonly ready: Promise<void>;
  private readonly frame: SandboxFrame;
  private readonly slots = new Map<number, Slot>();
  private readonly queue: Task[] = [];
  private readonly isolate: boolean;
  private readonly transferInput: boolean;
  private readonly stubs: boolean;
  private size: number;
  private nextWid = 1;
  private nextTask = 1;
  private started = false;
  private closed = false;
  private broken: WosError | undefined;
  private startFailures = 0;

  constructor(options: SandboxPoolOptions = {}) {
    this.size = checkSize(options.workers ?? (navigator.hardwareConcurrency || 1));
    this.isolate = options.isolateKernels ?? true;
    this.transferInput = options.transferInput ?? true;
    this.stubs = options.stubs ?? true;
    this.frame = new SandboxFrame({
      document: options.document ?? document,
      workerSource: Promise.resolve(options.workerSource ?? fetchKernelWorkerSource()),
      allowWasm: options.allowWasm ?? true,
      startTimeoutMs: options.startTimeoutMs ?? 10_000,
      onWorkerError: (wid, message) => this.onWorkerError(wid, message),
    });
    this.ready = this.frame.ready.then(() => {
      this.started = true;
      this.fill();
      this.pump();
    });
    this.ready.catch((e: unknown) =>
      this.fail(e instanceof SandboxUnavailableError ? e : new SandboxUnavailableError(`${e}`)),
    );
  }

  load(): ExecutorLoad {
    let busy = 0;
    for (const s of this.slots.values()) if (s.task) busy++;
    return { workers: this.size, busy, queued: this.queue.length };
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
      const task: Task = {
        kernel,
        input,
        timeoutMs,
        signal,
        resolve,
        reject,
        onAbort: () => this.abort(task),
        id: 0,
      };
      signal?.addEventListener('abort', task.onAbort, { once: true });
      this.queue.push(task);
      this.pump();
    });
  }

  resize(workers: number): void {
    if (this.closed) throw new ClosedError('sandbox pool');
    this.size = checkSize(workers);
    if (!this.started) return;
    const active = [...this.slots.values()].filter((s) => !s.retiring);
    let excess = active.length - this.size;
    // Idle workers go first; busy ones finish their task and then go.
    for (const s of [...active].sort((a, b) => Number(!!a.task) - Number(!!b.task))) {
      if (excess <= 0) break;
      excess--;
      if (s.task) s.retiring = true;
      else this.destroy(s);
    }
    for (const s of this.slots.values()) {
      if (excess < 0 && s.retiring) {
        s.retiring = false;
        excess++;
      }
    }
    this.fill();
    this.pump();
  }

  close(): void {
    if (this.closed) return;
    this.fail(new ClosedError('sandbox pool'));
    this.closed = true;
  }

  private fail(e: WosError): void {
    if (this.closed) return;
    if (!(e instanceof ClosedError)) this.broken = e;
    for (const t of this.queue.splice(0)) this.settle(t, e);
    for (const s of this.slots.values()) if (s.task) this.settle(s.task, e);
    this.slots.clear();
    this.frame.close();
  }

  private pump(): void {
    while (this.started && !this.closed && !this.broken && this.queue.length > 0) {
      const head = this.queue[0]!;
      const slot = this.pick(head.kernel.id);
      if (!slot) return;
      this.queue.shift();
      this.start(slot, head);
    }
  }

  /** An idle worker for `kernelId`: one that has it loaded, else a fresh one, else recycled. */
  private pick(kernelId: string): Slot | undefined {
    const idle = [...this.slots.values()].filter((s) => !s.task && !s.retiring);
    if (idle.length === 0) return undefined;
    const warm = idle.find((s) => s.kernels.has(kernelId));
    if (warm) return warm;
    const fresh = idle.find((s) => s.kernels.size === 0);
    if (fresh) return fresh;
    const lru = idle.reduce((a, b) => (b.lastUsed < a.lastUsed ? b : a));
    if (!this.isolate) return lru;
    this.destroy(lru);
    return this.spawn();
  }

  private start(slot: Slot, task: Task): void {
    task.id = this.nextTask++;
    const known = slot.kernels.has(task.kernel.id);
    const req: RunRequest = { t: 'run', id: task.id, kernelId: task.kernel.id, input: task.input };
    if (!known) req.source = task.kernel.spec.source;
    task.input = undefined;
    try {
      post(slot.port, req, this.transferInput ? transferables(req.input) : []);
    } catch (e) {
      this.settle(task, new ArgumentError(`the input cannot be sent to a worker: ${e}`));
      return;
    }
    slot.kernels.add(task.kernel.id);
    slot.task = task;
    slot.lastUsed = performance.now();
    task.slot = slot;
    task.timer = setTimeout(
      () => this.kill(slot, new KernelTimeoutError(task.timeoutMs)),
      task.timeoutMs,
    );
  }

  private onReply(slot: Slot, data: unknown): void {
    const reply = parseReply(data);
    if (!reply) return;
    if (reply.t === 'up') {
      slot.up = true;
      this.startFailures = 0;
      return;
    }
    const task = slot.task;
    if (!task || reply.id !== task.id) return;
    slot.task = undefined;
    if (reply.t === 'ok') {
      this.settle(task, undefined, reply.output);
    } else {
      if (reply.kind === 'load') slot.kernels.delete(task.kernel.id);
      this.settle(task, failureError(reply));
    }
    if (slot.retiring) this.destroy(slot);
    this.pump();
  }

  private onWorkerError(wid: number, message: string): void {
    const slot = this.slots.get(wid);
    // After `up`, error events are a kernel's uncaught async errors: not the task's outcome.
    if (!slot || slot.up) return;
    if (++this.startFailures >= MAX_START_FAILURES) {
      return this.fail(new SandboxUnavailableError(`workers fail to start: ${message}`));
    }
    this.kill(slot, new SandboxUnavailableError(`a worker failed to start: ${message}`));
  }

  private abort(task: Task): void {
    const reason = task.signal?.reason;
    if (task.slot) return this.kill(task.slot, new AbortError('kernel run', reason));
    const i = this.queue.indexOf(task);
    if (i >= 0) this.queue.splice(i, 1);
    this.settle(task, new AbortError('kernel run', reason));
  }

  /** Terminates a worker mid-task, fails its task and brings the pool back to size. */
  private kill(slot: Slot, error: WosError): void {
    const task = slot.task;
    this.destroy(slot);
    if (task) this.settle(task, error);
    this.fill();
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

  private fill(): void {
    if (!this.started || this.closed || this.broken) return;
    let active = 0;
    for (const s of this.slots.values()) if (!s.retiring) active++;
    for (; active < this.size; active++) this.spawn();
  }

  private spawn(): Slot {
    const wid = this.nextWid++;
    const port = this.frame.spawn(wid, this.stubs);
    const slot: Slot = { wid, port, kernels: new Set(), up: false, retiring: false, lastUsed: 0 };
    port.onmessage = (e: MessageEvent) => this.onReply(slot, e.data);
    port.onmessageerror = () => {
      const task = slot.task;
      if (task) this.kill(slot, new KernelError('its result could not be received'));
    };
    this.slots.set(wid, slot);
    return slot;
  }

  private destroy(slot: Slot): void {
    this.slots.delete(slot.wid);
    slot.port.onmessage = null;
    slot.port.close();
    this.frame.kill(slot.wid);
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
