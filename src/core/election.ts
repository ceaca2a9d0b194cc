import * as v from 'valibot';
import type { Bus } from './bus.ts';
import { every, type Clock } from './clock.ts';
import { Emitter } from './emitter.ts';
import type { Membership } from './membership.ts';
import { NodeIdSchema } from './wire.ts';

/**
 * Coordinator election with terms. A term is `(n, by)`: the round number and the node that won
 * it, ordered by n then by id, so no two nodes ever hold the same term. A candidate asks every
 * live member for a vote in round n; a member votes once per round and never while it hears a
 * live coordinator; a majority of the candidate's view wins. The coordinator beats to every
 * member; anything stamped with a lower term than a node has seen is refused (fencing), and a
 * coordinator that hears of a higher term steps down. After a partition heals the highest term
 * wins everywhere.
 */
export interface Term {
  n: number;
  by: string;
}

export function compareTerms(a: Term | undefined, b: Term | undefined): number {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  if (a.n !== b.n) return a.n - b.n;
  return a.by < b.by ? -1 : a.by > b.by ? 1 : 0;
}

const TermNumberSchema = v.pipe(
  v.number(),
  v.integer(),
  v.minValue(1),
  v.maxValue(Number.MAX_SAFE_INTEGER),
);
export const TermSchema = v.strictObject({ n: TermNumberSchema, by: NodeIdSchema });
const VoteSchema = v.strictObject({ n: TermNumberSchema });

export interface ElectionOptions {
  intervalMs: number;
  voteTimeoutMs: number;
}

export class Election extends Emitter<{
  change: { coordinator: string | undefined; term: Term | undefined };
}> {
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #members: Membership;
  readonly #opts: ElectionOptions;
  readonly #random: () => number;
  #term: Term | undefined;
  #coordinator: string | undefined;
  #maxN = 0;
  readonly #votedFor = new Map<number, string>();
  #lastBeatAt = 0;
  #leaderlessSince: number;
  #electing = false;
  #stop: (() => void) | undefined;
  /** Every term this node has ever held as coordinator (checked by the simulation). */
  readonly heldTerms: Term[] = [];

  constructor(
    bus: Bus,
    clock: Clock,
    members: Membership,
    opts: ElectionOptions,
    random: () => number,
  ) {
    super();
    this.#bus = bus;
    this.#clock = clock;
    this.#members = members;
    this.#opts = opts;
    this.#random = random;
    this.#leaderlessSince = clock.now();
    bus.handle('vote', VoteSchema, (m) => this.#onVote(m.body.n, m.from));
    bus.handle('coord', TermSchema, (m) => this.#onTerm(m.body, m.from));
    members.on('leave', ({ id }) => {
      if (id !== this.#coordinator) return;
      this.#setCoordinator(undefined);
      // Campaign at once rather than at the next tick: failover time is detection + one round.
      queueMicrotask(() => {
        if (this.#stop) this.tick();
      });
    });
  }

  get coordinator(): string | undefined {
    return this.#coordinator;
  }

  get term(): Term | undefined {
    return this.#term;
  }

  get isCoordinator(): boolean {
    return this.#coordinator === this.#bus.nodeId;
  }

  start(): void {
    this.#stop ??= every(this.#clock, this.#opts.intervalMs, () => this.tick());
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  /** True when `t` is at least the highest term this node has accepted (not fenced). */
  accepts(t: Term): boolean {
    return compareTerms(t, this.#term) >= 0;
  }

  tick(): void {
    const now = this.#clock.now();
    if (this.isCoordinator && this.#term) {
      for (const m of this.#members.alive()) {
        this.#bus.send(m.id, 'coord', this.#term).catch(() => {});
      }
      return;
    }
    const c = this.#coordinator;
    if (c !== undefined && this.#members.isFresh(c)) return;
    if (c !== undefined) this.#setCoordinator(undefined);
    if (this.#electing) return;
    // The lowest live id stands first; others stand only if nobody has won for a while.
    const ids = [this.#bus.nodeId, ...this.#fresh()].sort();
    const preferred = ids[0] === this.#bus.nodeId;
    const waited = now - this.#leaderlessSince;
    const patience = this.#members.options.failAfterMs * (1 + this.#random());
    if (preferred || waited > patience) void this.#campaign();
  }

  /** Live members by `isFresh`: a crashed one neither stands first nor gets asked to vote. */
  #fresh(): string[] {
    return this.#members
      .alive()
      .map((m) => m.id)
      .filter((id) => this.#members.isFresh(id));
  }

  async #campaign(): Promise<void> {
    this.#electing = true;
    const n = Math.max(this.#maxN, this.#term?.n ?? 0) + 1;
    this.#maxN = n;
    this.#votedFor.set(n, this.#bus.nodeId);
    const voters = this.#fresh();
    const answers = await Promise.allSettled(
      voters.map((id) =>
        this.#bus.request(id, 'vote', { n }, { timeoutMs: this.#opts.voteTimeoutMs }),
      ),
    );
    this.#electing = false;
    const granted = answers.filter(
      (a) => a.status === 'fulfilled' && (a.value.body as { granted?: unknown })?.granted === true,
    ).length;
    const won = (granted + 1) * 2 > voters.length + 1;
    // Lost the race to a higher round meanwhile, or someone else won: stand down.
    if (
      !won ||
      this.#maxN !== n ||
      (this.#coordinator && this.#members.isFresh(this.#coordinator))
    ) {
      this.#leaderlessSince = this.#clock.now() - this.#random() * this.#opts.intervalMs;
      return;
    }
    const term = { n, by: this.#bus.nodeId };
    this.#term = term;
    this.heldTerms.push(term);
    this.#setCoordinator(this.#bus.nodeId);
    this.tick();
  }

  #onVote(n: number, candidate: string): { granted: boolean; term?: Term } {
    const c = this.#coordinator;
    const liveCoordinator =
      c !== undefined &&
      c !== candidate &&
      this.#members.isFresh(c) &&
      (c === this.#bus.nodeId ||
        this.#clock.now() - this.#lastBeatAt <= this.#members.options.failAfterMs);
    const voted = this.#votedFor.get(n);
    if (liveCoordinator || n < this.#maxN || (voted !== undefined && voted !== candidate)) {
      return this.#term ? { granted: false, term: this.#term } : { granted: false };
    }
    this.#maxN = n;
    this.#votedFor.set(n, candidate);
    for (const k of this.#votedFor.keys()) if (k < n - 16) this.#votedFor.delete(k);
    return { granted: true };
  }

  #onTerm(t: Term, from: string): void {
    const cmp = compareTerms(t, this.#term);
    if (cmp < 0) {
      // A stale coordinator: tell it about the newer term so it steps down.
      if (from === t.by && this.#term) this.#bus.send(from, 'coord', this.#term).catch(() => {});
      return;
    }
    // Only a member's newer term: one naming a node that is not here would leave none.
    if (cmp > 0 && !this.#members.isAlive(t.by)) return;
    this.#maxN = Math.max(this.#maxN, t.n);
    if (cmp > 0) {
      this.#term = t;
      this.#setCoordinator(t.by);
    } else if (from === t.by && this.#coordinator === undefined && this.#members.isAlive(t.by)) {
      // The holder of our current term beats again (e.g. it was briefly unreachable).
      this.#setCoordinator(t.by);
    }
    if (from === t.by && this.#coordinator === t.by) this.#lastBeatAt = this.#clock.now();
  }

  #setCoordinator(id: string | undefined): void {
    if (id === this.#coordinator) return;
    this.#coordinator = id;
    if (id === undefined) this.#leaderlessSince = this.#clock.now();
    else this.#lastBeatAt = this.#clock.now();
    this.emit('change', { coordinator: id, term: this.#term });
  }
}
