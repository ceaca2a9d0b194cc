import { SandboxFrame, type SandboxFrameOptions } from './sandbox-frame.ts';

/** One kernel worker as the page sees it. */
export interface Slot<T> {
  wid: number;
  port: MessagePort;
  /** Kernels this worker has loaded (its source was sent). */
  kernels: Set<string>;
  task?: T;
  /** Goes when its task ends (the pool shrank). */
  retiring: boolean;
  lastUsed: number;
}

export interface WorkerSetOptions<T> {
  frame: SandboxFrameOptions;
  stubs: boolean;
  /** Only runs of one kernel share a worker. */
  isolate: boolean;
  onMessage(slot: Slot<T>, data: unknown): void;
  onMessageError(slot: Slot<T>): void;
}

/**
 * One sandbox and its workers: the frame, starting workers in it up to the wanted size,
 * choosing one for a kernel, retiring the excess when the size drops, and terminating them.
 * Workers start at once: their spawn messages wait on the frame's control port.
 */
export class WorkerSet<T> {
  readonly frame: SandboxFrame;
  private readonly slots = new Map<number, Slot<T>>();
  private nextWid = 1;

  constructor(
    private readonly o: WorkerSetOptions<T>,
    public size: number,
  ) {
    this.frame = new SandboxFrame(o.frame);
    this.fill();
  }

  get(wid: number): Slot<T> | undefined {
    return this.slots.get(wid);
  }

  all(): Slot<T>[] {
    return [...this.slots.values()];
  }

  /** Starts workers until `size` are not retiring. */
  fill(): void {
    let active = 0;
    for (const s of this.slots.values()) if (!s.retiring) active++;
    for (; active < this.size; active++) this.spawn();
  }

  /**
   * Idle workers beyond `n` go now, busy ones when their task ends; retiring ones come back
   * if needed before new ones start.
   */
  resize(n: number): void {
    this.size = n;
    const active = this.all().filter((s) => !s.retiring);
    let excess = active.length - n;
    for (const s of active.sort((a, b) => Number(!!a.task) - Number(!!b.task))) {
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
  }

  /**
   * An idle worker for `kernelId`: one that has it loaded, else a fresh one, else the least
   * recently used (replaced by a fresh worker when kernels are isolated).
   */
  pick(kernelId: string): Slot<T> | undefined {
    let fresh: Slot<T> | undefined;
    let lru: Slot<T> | undefined;
    for (const s of this.slots.values()) {
      if (s.task || s.retiring) continue;
      if (s.kernels.has(kernelId)) return s;
      if (s.kernels.size === 0) fresh ??= s;
      else if (!lru || s.lastUsed < lru.lastUsed) lru = s;
    }
    if (fresh || !lru || !this.o.isolate) return fresh ?? lru;
    this.destroy(lru);
    return this.spawn();
  }

  spawn(): Slot<T> {
    const wid = this.nextWid++;
    const port = this.frame.spawn(wid, this.o.stubs);
    const slot: Slot<T> = { wid, port, kernels: new Set(), retiring: false, lastUsed: 0 };
    port.onmessage = (e: MessageEvent) => this.o.onMessage(slot, e.data);
    port.onmessageerror = () => this.o.onMessageError(slot);
    this.slots.set(wid, slot);
    return slot;
  }

  /** Terminates the worker (whatever it is doing) and forgets it. */
  destroy(slot: Slot<T>): void {
    if (this.slots.get(slot.wid) !== slot) return; // not (or no longer) ours
    this.slots.delete(slot.wid);
    slot.port.onmessage = null;
    slot.port.onmessageerror = null;
    slot.port.close();
    this.frame.kill(slot.wid);
  }

  busy(): number {
    let n = 0;
    for (const s of this.slots.values()) if (s.task) n++;
    return n;
  }

  /** Ends every worker and the frame. */
  close(): void {
    for (const s of this.all()) this.destroy(s);
    this.frame.close();
  }
}
