import type { Clock } from '../clock.ts';

interface Held {
  done: boolean;
  release: () => void;
}

/** A clock that only moves when told to: deterministic timers for tests and simulations. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  /** Tracked operations, in the order they started; each is released only at the head. */
  readonly #held: Held[] = [];
  #pumping = false;

  /**
   * Real asynchronous work (WebCrypto runs on a thread pool) is invisible to a manual clock;
   * tracked promises hold the clock still until they settle, so simulated timeouts never race
   * real CPU time. They also settle in the order they started, one per macrotask turn, whatever
   * order the thread pool finishes them in: what runs after each (and which frames, timers and
   * random draws follow) is then the same in every run, so a seeded simulation replays exactly.
   * Track leaf operations only (one WebCrypto call, as `trackedSubtle` does): a tracked promise
   * that waits for one tracked after it would wait forever, since it is released first.
   */
  track<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const held: Held = { done: false, release: () => {} };
      p.then(
        (value) => {
          held.release = () => resolve(value);
          held.done = true;
        },
        (e: unknown) => {
          held.release = () => reject(e as Error);
          held.done = true;
        },
      );
      this.#held.push(held);
      void this.#pump();
    });
  }

  /** Releases finished operations from the head, one per turn, until none is held. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#held.length > 0) {
        const head = this.#held[0]!;
        if (head.done) {
          this.#held.shift();
          head.release();
        }
        // Its continuation runs (and may start more) before the next is released.
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.#pumping = false;
    }
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
    while (this.#held.length > 0) await new Promise((r) => setImmediate(r));
  }
}
