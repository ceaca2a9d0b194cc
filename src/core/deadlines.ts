import type { Clock } from './clock.ts';

/**
 * Many deadlines on one timer: `add` costs a map entry, not a `setTimeout`; the timer is set
 * for the earliest deadline only, and each time it fires the expired entries go to `onExpire`
 * and it is set for the next. For request timeouts and task time limits, which almost never
 * fire: a timer per entry costs ~10 µs to set and clear in a page.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines<T> {
  readonly #clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>;
  readonly #onExpire: (item: T) => void;
  readonly #at = new Map<T, number>();
  #timer: unknown;
  #timerAt = Infinity;

  constructor(
    clock: Pick<Clock, 'now' | 'setTimeout' | 'clearTimeout'>,
    onExpire: (item: T) => void,
  ) {
    this.#clock = clock;
    this.#onExpire = onExpire;
  }

  get size(): number {
    return this.#at.size;
  }

  /** `item` expires `ms` from now (replacing any earlier deadline it had). */
  add(item: T, ms: number): void {
    const at = this.#clock.now() + ms;
    this.#at.set(item, at);
    if (at < this.#timerAt) this.#arm(at);
  }

  /** The timer stays set: the next `add` most likely needs it (it re-arms if it is early). */
  delete(item: T): void {
    this.#at.delete(item);
  }

  /** Forgets every deadline and stops the timer. */
  clear(): void {
    this.#at.clear();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = at;
    // Timers take at most 2^31 − 1 ms; a later deadline is simply re-armed when this fires.
    const ms = Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now()));
    this.#timer = this.#clock.setTimeout(() => this.#fire(), ms);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#clock.now();
    const expired: T[] = [];
    let next = Infinity;
    for (const [item, at] of this.#at) {
      if (at <= now) expired.push(item);
      else if (at < next) next = at;
    }
    for (const item of expired) this.#at.delete(item);
    if (next < Infinity) this.#arm(next);
    for (const item of expired) this.#onExpire(item);
  }
}
