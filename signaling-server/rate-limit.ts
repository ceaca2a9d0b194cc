/** A token bucket: `ratePerSec` tokens refill per second up to `burst`. */
export interface RateSpec {
  ratePerSec: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * Per-key (per-IP) token buckets. `take(key)` returns 0 when allowed, otherwise the seconds to
 * wait before one token is available (for `Retry-After`). Idle full buckets are swept so the
 * map cannot grow without bound; if it still reaches `maxKeys`, the oldest entries are dropped
 * (a dropped key starts again with a full bucket, which errs on the side of letting users in).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly spec: RateSpec;
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(spec: RateSpec, options: { now?: () => number; maxKeys?: number } = {}) {
    if (!(spec.ratePerSec > 0) || !(spec.burst >= 1)) {
      throw new RangeError(
        `rate limit needs ratePerSec > 0 and burst >= 1, got ${JSON.stringify(spec)}`,
      );
    }
    this.spec = spec;
    this.now = options.now ?? Date.now;
    this.maxKeys = options.maxKeys ?? 100_000;
  }

  take(key: string, cost = 1): number {
    const now = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.evict();
      b = { tokens: this.spec.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.spec.burst, b.tokens + ((now - b.at) / 1000) * this.spec.ratePerSec);
      b.at = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return (cost - b.tokens) / this.spec.ratePerSec;
  }

  /** Drops buckets that have refilled completely (they are equivalent to absent ones). */
  sweep(): void {
    const now = this.now();
    for (const [key, b] of this.buckets) {
      const tokens = b.tokens + ((now - b.at) / 1000) * this.spec.ratePerSec;
      if (tokens >= this.spec.burst) this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(): void {
    this.sweep();
    let excess = this.buckets.size - this.maxKeys + 1;
    for (const key of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}

/**
 * Token-bucket state stored inline on an object (one per websocket), to avoid a Map lookup and
 * an allocation per message. Returns true when the message is allowed.
 */
export interface InlineBucket {
  wosTokens: number;
  wosTokensAt: number;
}

export function takeInline(b: InlineBucket, spec: RateSpec, now: number): boolean {
  b.wosTokens = Math.min(
    spec.burst,
    b.wosTokens + ((now - b.wosTokensAt) / 1000) * spec.ratePerSec,
  );
  b.wosTokensAt = now;
  if (b.wosTokens >= 1) {
    b.wosTokens -= 1;
    return true;
  }
  return false;
}
