import type { Clock } from '../clock.ts';

/**
 * When the owner's files are audited and repaired: every `intervalMs`, and soon after a node
 * joins or leaves (`kick`): a newcomer is what lets shards that wait on the uploader's store (too
 * few peers at upload) or on a crowded store spread out, and a leaver's shards must be rebuilt. One pass at a time; kicks that come
 * while a pass runs, or within `settleMs` of each other, make one more pass, not many.
 */
export interface RepairSchedule {
  /** Passes at least this often, ms. */
  intervalMs: number;
  /** Wait after a kick for more joins (and for the newcomer's store to be known), ms. */
  settleMs: number;
}

export class RepairScheduler {
  readonly #clock: Clock;
  readonly #pass: () => Promise<unknown>;
  readonly #o: RepairSchedule;
  #timer: unknown;
  #due = 0;
  #running = false;
  #again = false;
  #stopped = true;

  constructor(clock: Clock, pass: () => Promise<unknown>, o: RepairSchedule) {
    if (!(o.intervalMs > 0) || !(o.settleMs >= 0)) {
      throw new RangeError('repair intervalMs must be > 0 and settleMs ≥ 0');
    }
    this.#clock = clock;
    this.#pass = pass;
    this.#o = o;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#arm(this.#o.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#again = false;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Asks for a pass soon (after `settleMs`). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else this.#arm(this.#o.settleMs);
  }

  /** Whether a pass is running now. */
  get running(): boolean {
    return this.#running;
  }

  /** Sets the timer to fire in `ms`, unless it already fires sooner. */
  #arm(ms: number): void {
    const due = this.#clock.now() + ms;
    if (this.#timer !== undefined) {
      if (this.#due <= due) return;
      this.#clock.clearTimeout(this.#timer);
    }
    this.#due = due;
    this.#timer = this.#clock.setTimeout(() => void this.#run(), ms);
  }

  async #run(): Promise<void> {
    this.#timer = undefined;
    if (this.#stopped) return;
    this.#running = true;
    try {
      await this.#pass();
    } catch {
      // A failed pass (e.g. every holder offline) is retried at the next tick.
    } finally {
      this.#running = false;
    }
    if (this.#stopped) return;
    const again = this.#again;
    this.#again = false;
    this.#arm(again ? this.#o.settleMs : this.#o.intervalMs);
  }
}
