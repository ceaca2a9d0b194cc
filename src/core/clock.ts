/** Time is injected so tests and simulations can run on a manual clock. */
export interface Clock {
  now(): number;
  /** Sub-millisecond time for measuring short intervals (RTT); defaults to `now`. */
  precise?(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  precise: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Calls `fn` every `ms` on `clock` until the returned stop function runs. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let stopped = false;
  let handle: unknown;
  const tick = (): void => {
    if (stopped) return;
    handle = clock.setTimeout(tick, ms);
    fn();
  };
  handle = clock.setTimeout(tick, ms);
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
