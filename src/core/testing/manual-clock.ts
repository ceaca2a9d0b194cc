import type { Clock } from '../clock.ts';

/** A clock that only moves when told to: deterministic timers for tests and simulations. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  #inflight = 0;

  /**
   * Real asynchronous work (WebCrypto runs on a thread pool) is invisible to a manual clock;
   * tracked promises hold the clock still until they settle, so simulated timeouts never race
   * real CPU time.
   */
  track<T>(p: Promise<T>): Promise<T> {
    this.#inflight++;
    return p.finally(() => this.#inflight--);
  }

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Runs every timer due within `ms`, in order, yielding to real I/O (e.g. WebCrypto) between. */
  async advance(ms: number, stepMs = 10): Promise<void> {
    const end = this.#now + ms;
    while (this.#now < end) {
      const stepEnd = Math.min(end, this.#now + stepMs);
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of this.#timers) {
          if (
            e[1].at <= stepEnd &&
            (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))
          ) {
            next = e;
          }
        }
        if (!next) break;
        this.#timers.delete(next[0]);
        this.#now = Math.max(this.#now, next[1].at);
        next[1].fn();
        await Promise.resolve();
        await this.#settle();
      }
      this.#now = stepEnd;
      await new Promise((r) => setImmediate(r));
      await this.#settle();
    }
  }

  async #settle(): Promise<void> {
    while (this.#inflight > 0) await new Promise((r) => setImmediate(r));
  }
}
