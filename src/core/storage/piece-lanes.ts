import { AbortError } from '../errors.ts';

/**
 * One window of shard pieces in flight per store, shared by all the stripes a put has in flight
 * and granted earliest stripe first (then lowest offset). Without it every stripe in flight
 * sends its own few pieces per store at once, so they share each link evenly and the first
 * stripe is stored only when the later ones nearly are too: a put's first progress, and the
 * point from which a stripe counts as stored, came about one window of stripes late. With it a
 * later stripe's pieces go out only where the earlier stripe leaves a slot free (its shard for
 * that store is all sent), which keeps every link as busy as before.
 */
interface Waiter {
  stripe: number;
  at: number;
  go: () => void;
}

interface Lane {
  busy: number;
  /** Sorted: earliest stripe, then lowest offset, first. */
  waiting: Waiter[];
}

export class PieceLanes {
  readonly #width: number;
  readonly #lanes = new Map<string, Lane>();

  /** `width`: pieces in flight per store at most. */
  constructor(width: number) {
    this.#width = Math.max(1, width);
  }

  /**
   * Waits for a slot on `store` for the piece at `at` of a shard of `stripe`; resolves with the
   * function that frees it (call it once the piece is answered, whatever the outcome).
   */
  take(store: string, stripe: number, at: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new AbortError('piece', signal.reason));
    let lane = this.#lanes.get(store);
    if (!lane) this.#lanes.set(store, (lane = { busy: 0, waiting: [] }));
    const l = lane;
    const release = (): void => this.#release(store, l);
    if (l.busy < this.#width && l.waiting.length === 0) {
      l.busy++;
      return Promise.resolve(once(release));
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const i = l.waiting.indexOf(w);
        if (i >= 0) l.waiting.splice(i, 1);
        reject(new AbortError('piece', signal?.reason));
      };
      const w: Waiter = {
        stripe,
        at,
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(once(release));
        },
      };
      let i = l.waiting.length;
      while (i > 0 && before(w, l.waiting[i - 1]!)) i--;
      l.waiting.splice(i, 0, w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Pieces waiting for a slot on `store` (for tests). */
  waiting(store: string): number {
    return this.#lanes.get(store)?.waiting.length ?? 0;
  }

  #release(store: string, l: Lane): void {
    const next = l.waiting.shift();
    if (next) {
      // The slot passes straight on: `busy` stays as it is.
      next.go();
      return;
    }
    l.busy--;
    if (l.busy === 0 && this.#lanes.get(store) === l) this.#lanes.delete(store);
  }
}

function before(a: Waiter, b: Waiter): boolean {
  return a.stripe < b.stripe || (a.stripe === b.stripe && a.at < b.at);
}

/** A release that frees its slot once, however often it is called. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
