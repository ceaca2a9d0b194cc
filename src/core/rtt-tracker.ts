import * as v from 'valibot';
import type { Bus } from './bus.ts';
import { every, type Clock } from './clock.ts';

/**
 * Measures round-trip time to every neighbour with small bus pings and reports the minimum of
 * the last few samples: the link's own latency, what the compute scheduler, shard placement,
 * the stripe readers and the Nodes view rank peers by. Not the median: a ping sent while the
 * link carries bulk data waits behind it (7–237 ms measured on loopback, against ~0.4 ms idle),
 * so a reader fetching shards from a holder saw that holder turn "far" and switched to parity
 * holders mid-file. Load is judged elsewhere (free workers, queue length, reliability).
 */
const SAMPLES = 5;

export class RttTracker {
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #samples = new Map<string, number[]>();
  readonly #listeners = new Set<() => void>();
  #stop: (() => void) | undefined;

  constructor(bus: Bus, clock: Clock, periodMs: number) {
    this.#bus = bus;
    this.#clock = clock;
    this.#periodMs = periodMs;
    bus.handle('ping', v.strictObject({}), () => ({}));
  }

  start(): void {
    this.#stop ??= every(this.#clock, this.#periodMs, () => void this.measureAll());
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  onUpdate(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** One bus round trip to `peer`, in ms. */
  async ping(peer: string, timeoutMs = 2000): Promise<number> {
    const now = (): number => this.#clock.precise?.() ?? this.#clock.now();
    const t0 = now();
    await this.#bus.request(peer, 'ping', {}, { timeoutMs });
    return now() - t0;
  }

  async measureAll(): Promise<void> {
    const peers = this.#bus.neighbours();
    for (const id of [...this.#samples.keys()]) if (!peers.includes(id)) this.#samples.delete(id);
    await Promise.allSettled(
      peers.map(async (id) => {
        const ms = await this.ping(id);
        const s = this.#samples.get(id) ?? [];
        s.push(ms);
        if (s.length > SAMPLES) s.shift();
        this.#samples.set(id, s);
      }),
    );
    for (const fn of this.#listeners) fn();
  }

  get(peer: string): number | undefined {
    const s = this.#samples.get(peer);
    if (!s || s.length === 0) return undefined;
    return Math.min(...s);
  }

  all(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const id of this.#samples.keys()) {
      const r = this.get(id);
      if (r !== undefined) out[id] = Math.round(r * 100) / 100;
    }
    return out;
  }
}
