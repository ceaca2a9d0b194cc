import * as v from 'valibot';
import type { Bus } from './bus.ts';
import { every, type Clock } from './clock.ts';
import { Emitter } from './emitter.ts';
import type { NodeKind } from './link.ts';
import { NodeIdSchema } from './wire.ts';

/**
 * Membership and failure detection by gossiped heartbeats (van Renesse et al.): each node
 * bumps its own counter every interval and sends its table to its neighbours; an entry whose
 * counter has not grown for `failAfterMs` is dead. Entries carry their age, so freshness
 * travels with them and every node times a crashed peer out at about the same moment. A node
 * that says goodbye is tombstoned at once and its goodbye is gossiped on. Gossip also teaches
 * the bus a next hop for members it has no direct link to (relay).
 */
export interface Member {
  id: string;
  kind: NodeKind;
  hb: number;
  /** Local time at which the freshest evidence of life was produced. */
  seenAt: number;
  alive: boolean;
}

export type LeaveReason = 'left' | 'failed';

export interface MembershipOptions {
  intervalMs: number;
  failAfterMs: number;
  /**
   * How long a member whose direct channel closed stays without a newer heartbeat. Short: a
   * closing tab's goodbye is sometimes lost in its teardown, and a closed tab must vanish
   * within 1 s; a member that in fact lives on is revived by its next newer heartbeat.
   */
  suspectMs: number;
  tombstoneMs: number;
}

export const defaultMembershipOptions: MembershipOptions = {
  intervalMs: 500,
  failAfterMs: 2500,
  suspectMs: 300,
  tombstoneMs: 60_000,
};

const EntrySchema = v.tuple([
  NodeIdSchema,
  v.pipe(v.number(), v.integer(), v.minValue(0)),
  v.pipe(v.number(), v.minValue(0), v.maxValue(3_600_000)),
  v.picklist(['tab', 'agent']),
]);
/** Most entries in a gossip message, and most members and tombstones a node keeps. */
export const MAX_GOSSIP = 4096;
const GossipSchema = v.strictObject({
  m: v.pipe(v.array(EntrySchema), v.maxLength(MAX_GOSSIP)),
  gone: v.pipe(v.array(NodeIdSchema), v.maxLength(MAX_GOSSIP)),
});
const ByeSchema = v.strictObject({});

export class Membership extends Emitter<{
  join: Member;
  leave: { id: string; reason: LeaveReason };
}> {
  readonly self: Member;
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #opts: MembershipOptions;
  readonly #members = new Map<string, Member>();
  readonly #gone = new Map<string, number>();
  #stop: (() => void) | undefined;
  /** Timers of members whose direct channel closed (see `unlinked`). */
  readonly #suspectTimers = new Set<unknown>();

  constructor(bus: Bus, clock: Clock, kind: NodeKind, opts: Partial<MembershipOptions> = {}) {
    super();
    this.#bus = bus;
    this.#clock = clock;
    this.#opts = { ...defaultMembershipOptions, ...opts };
    this.self = { id: bus.nodeId, kind, hb: 0, seenAt: clock.now(), alive: true };
    bus.handle('gossip', GossipSchema, (m) => this.#onGossip(m.body, m.via));
    bus.handle('bye', ByeSchema, (m) => this.#markGone(m.from));
  }

  get options(): MembershipOptions {
    return this.#opts;
  }

  start(): void {
    this.#stop ??= every(this.#clock, this.#opts.intervalMs, () => this.tick());
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
    for (const h of this.#suspectTimers) this.#clock.clearTimeout(h);
    this.#suspectTimers.clear();
  }

  /** Live members other than this node. */
  alive(): Member[] {
    return [...this.#members.values()].filter((m) => m.alive);
  }

  isAlive(id: string): boolean {
    return id === this.self.id || this.#members.get(id)?.alive === true;
  }

  /**
   * Alive and heard from within `failAfterMs` right now, not as of the last tick: nodes that
   * must agree a member is dead at the same moment (an election after the coordinator crashed)
   * ask this, since their ticks are up to `intervalMs` apart.
   */
  isFresh(id: string): boolean {
    if (id === this.self.id) return true;
    const m = this.#members.get(id);
    return m?.alive === true && this.#clock.now() - m.seenAt <= this.#opts.failAfterMs;
  }

  kindOf(id: string): NodeKind | undefined {
    return id === this.self.id ? this.self.kind : this.#members.get(id)?.kind;
  }

  /** A direct link was admitted: that is evidence of life. */
  linked(id: string, kind: NodeKind): void {
    if (this.#gone.has(id)) return;
    const m = this.#members.get(id);
    if (m) {
      m.seenAt = Math.max(m.seenAt, this.#clock.now());
      this.#revive(m);
    } else this.#add({ id, kind, hb: 0, seenAt: this.#clock.now(), alive: true });
    this.#bus.setRoute(id, undefined);
  }

  /** A direct link closed: forget routes through it; the member may live on via relay. */
  unlinked(id: string): void {
    for (const m of this.#members.values()) {
      if (m.alive && this.#routeOf.get(m.id) === id) this.#setRoute(m.id, undefined);
    }
    // A closed channel is strong evidence the peer is gone (its goodbye may be stuck behind
    // bulk data on that channel, or lost when the tab was torn down): it fails after
    // `suspectMs` unless a newer heartbeat of it arrives through another member first. Only a
    // newer heartbeat counts: gossip repeating the one we already have says nothing new, and
    // once let a neighbour's stale view keep a closed tab listed for the full `failAfterMs`.
    const m = this.#members.get(id);
    if (!m?.alive) return;
    // Cleared by a newer heartbeat or a new direct link, both read when the timer fires.
    const hb = m.hb;
    const handle = this.#clock.setTimeout(() => {
      this.#suspectTimers.delete(handle);
      const now = this.#members.get(id);
      if (now?.alive && now.hb === hb && !this.#bus.link(id)) this.#fail(now);
    }, this.#opts.suspectMs);
    this.#suspectTimers.add(handle);
  }

  /** Drops a member at once, as if it had said goodbye (e.g. its device was revoked). */
  drop(id: string): void {
    this.#markGone(id);
  }

  /** Says goodbye to every neighbour (used when the tab closes). */
  async leave(): Promise<void> {
    this.stop();
    await this.#bus.broadcast('bye', {});
  }

  readonly #routeOf = new Map<string, string>();
  #setRoute(id: string, via: string | undefined): void {
    if (via === undefined) this.#routeOf.delete(id);
    else this.#routeOf.set(id, via);
    this.#bus.setRoute(id, via);
  }

  tick(): void {
    const now = this.#clock.now();
    this.self.hb++;
    this.self.seenAt = now;
    for (const m of this.#members.values()) {
      if (m.alive && now - m.seenAt > this.#opts.failAfterMs) this.#fail(m);
      else if (!m.alive && now - m.seenAt > this.#opts.tombstoneMs) {
        this.#members.delete(m.id);
      }
    }
    for (const [id, at] of this.#gone) if (now - at > this.#opts.tombstoneMs) this.#gone.delete(id);
    const entries: [string, number, number, NodeKind][] = [
      [this.self.id, this.self.hb, 0, this.self.kind],
    ];
    for (const m of this.#members.values()) {
      if (m.alive && entries.length < MAX_GOSSIP)
        entries.push([m.id, m.hb, now - m.seenAt, m.kind]);
    }
    // Within what every receiver accepts, whatever peers told this node: the newest tombstones.
    const gone = [...this.#gone.keys()].slice(-MAX_GOSSIP);
    void this.#bus.broadcast('gossip', { m: entries, gone });
  }

  #onGossip(body: v.InferOutput<typeof GossipSchema>, via: string): void {
    const now = this.#clock.now();
    for (const id of body.gone) this.#markGone(id);
    for (const [id, hb, age, kind] of body.m) {
      if (id === this.self.id || this.#gone.has(id)) continue;
      const seenAt = now - age;
      const m = this.#members.get(id);
      if (!m) {
        if (age > this.#opts.failAfterMs || this.#members.size >= MAX_GOSSIP) continue;
        this.#add({ id, kind, hb, seenAt, alive: true });
        if (!this.#bus.link(id)) this.#setRoute(id, via);
        continue;
      }
      if (hb > m.hb) {
        m.hb = hb;
        m.seenAt = Math.max(m.seenAt, seenAt);
        // The neighbour that brought the freshest news is a good next hop.
        if (!this.#bus.link(id)) this.#setRoute(id, via);
        if (!m.alive && now - m.seenAt <= this.#opts.failAfterMs) this.#revive(m);
      } else if (hb === m.hb) {
        m.seenAt = Math.max(m.seenAt, seenAt);
      }
    }
  }

  #add(m: Member): void {
    this.#members.set(m.id, m);
    this.emit('join', m);
  }

  #fail(m: Member): void {
    m.alive = false;
    this.#setRoute(m.id, undefined);
    this.emit('leave', { id: m.id, reason: 'failed' });
  }

  #revive(m: Member): void {
    if (m.alive) return;
    m.alive = true;
    this.emit('join', m);
  }

  #markGone(id: string): void {
    if (id === this.self.id) return;
    if (!this.#gone.has(id)) {
      // Bounded: the oldest tombstone goes first (a Map keeps insertion order).
      if (this.#gone.size >= MAX_GOSSIP) this.#gone.delete(this.#gone.keys().next().value!);
      this.#gone.set(id, this.#clock.now());
    }
    const m = this.#members.get(id);
    this.#setRoute(id, undefined);
    if (m) {
      this.#members.delete(id);
      if (m.alive) this.emit('leave', { id, reason: 'left' });
    }
  }
}
