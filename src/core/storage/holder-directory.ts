import * as v from 'valibot';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { Candidate } from './placement.ts';
import type { ShardStore } from './shard-store.ts';
import { InfoReplySchema } from './storage-protocol.ts';

/**
 * Which store each live node serves, how full it is, and how reliable it has been. Manifests
 * name stores, not nodes: a tab that reloads comes back with a new node id but the same
 * IndexedDB store, and its shards are found again. Filled by `st.info` (on join and lazily
 * before placement), kept current by every put reply, forgotten when a node leaves.
 *
 * A member that does not answer `st.info` yet (its storage starts after it joins: a signed-in
 * tab opens its account first) is asked again after 1, 2, 4, 8 and 16 s while it stays; `onStore`
 * tells when a node's store becomes known, so files waiting for peers can spread at once.
 */
export interface HolderInfo {
  node: string;
  store: string;
  quota: number;
  used: number;
}

/** When a member that did not answer `st.info` is asked again (ms after each failure). */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16_000];

export class HolderDirectory {
  readonly selfNode: string;
  readonly selfStore: string;
  readonly #node: MeshNode;
  readonly #timeoutMs: number;
  readonly #info = new Map<string, HolderInfo>();
  readonly #score = new Map<string, { ok: number; bad: number }>();
  readonly #asking = new Map<string, Promise<void>>();
  /** Members asked again later: the timer and how many times they were asked. */
  readonly #retry = new Map<string, { timer: unknown; tries: number }>();
  readonly #onStore = new Set<(info: HolderInfo) => void>();
  #stopped = false;

  constructor(node: MeshNode, store: ShardStore, timeoutMs = 5000) {
    this.#node = node;
    this.#timeoutMs = timeoutMs;
    this.selfNode = node.id;
    this.selfStore = store.id;
    node.members.on('join', (m) => void this.refreshNode(m.id));
    node.members.on('leave', ({ id }) => {
      this.#info.delete(id);
      this.#cancelRetry(id);
    });
  }

  /** Calls `fn` whenever a live node's store becomes known; returns the unsubscribe. */
  onStore(fn: (info: HolderInfo) => void): () => void {
    this.#onStore.add(fn);
    return () => this.#onStore.delete(fn);
  }

  /** Asks members that did not answer again, as they fail (the default). */
  start(): void {
    this.#stopped = false;
  }

  /** Stops asking again (the storage service stopped). */
  stop(): void {
    this.#stopped = true;
    for (const id of [...this.#retry.keys()]) this.#cancelRetry(id);
  }

  /** Asks live members we know nothing about (all of them with `all`) which store they serve. */
  async refresh(all = false): Promise<void> {
    const ids = this.#node.members
      .alive()
      .map((m) => m.id)
      .filter((id) => all || !this.#info.has(id));
    await Promise.allSettled(ids.map((id) => this.refreshNode(id)));
  }

  refreshNode(id: string): Promise<void> {
    let p = this.#asking.get(id);
    if (!p) {
      p = this.#ask(id).finally(() => this.#asking.delete(id));
      this.#asking.set(id, p);
    }
    return p;
  }

  async #ask(id: string): Promise<void> {
    try {
      const r = await this.#node.bus.request(id, 'st.info', {}, { timeoutMs: this.#timeoutMs });
      const body = v.parse(InfoReplySchema, r.body);
      if (!this.#node.members.isAlive(id)) return;
      const known = this.#info.get(id)?.store === body.store;
      const info = { node: id, ...body };
      this.#info.set(id, info);
      this.#cancelRetry(id);
      if (!known) {
        for (const fn of [...this.#onStore]) {
          try {
            fn({ ...info });
          } catch {
            // A faulty listener must not stop the others.
          }
        }
      }
    } catch {
      // Not a storage node (yet), or gone: asked again soon while it is a member.
      this.#scheduleRetry(id);
    }
  }

  #scheduleRetry(id: string): void {
    if (this.#stopped || this.#info.has(id) || !this.#node.members.isAlive(id)) return;
    const cur = this.#retry.get(id);
    if (cur?.timer !== undefined) return;
    const tries = cur?.tries ?? 0;
    if (tries >= RETRY_DELAYS_MS.length) return;
    const timer = this.#node.clock.setTimeout(() => {
      this.#retry.set(id, { timer: undefined, tries: tries + 1 });
      void this.refreshNode(id);
    }, RETRY_DELAYS_MS[tries]!);
    this.#retry.set(id, { timer, tries });
  }

  #cancelRetry(id: string): void {
    const cur = this.#retry.get(id);
    if (cur?.timer !== undefined) this.#node.clock.clearTimeout(cur.timer);
    this.#retry.delete(id);
  }

  /** What every live storage node reported (not this node). */
  list(): HolderInfo[] {
    return [...this.#info.values()]
      .filter((i) => this.#node.members.isAlive(i.node))
      .map((i) => ({ ...i }));
  }

  /** Usage as a holder reported it in a reply. */
  note(node: string, quota: number, used: number): void {
    const i = this.#info.get(node);
    if (i) Object.assign(i, { quota, used });
  }

  storeOf(node: string): string | undefined {
    return node === this.selfNode ? this.selfStore : this.#info.get(node)?.store;
  }

  /** Live nodes serving `store`, this node first, then by RTT. */
  nodesOf(store: string): string[] {
    const out: string[] = [];
    if (store === this.selfStore) out.push(this.selfNode);
    const others = [...this.#info.values()]
      .filter((i) => i.store === store && this.#node.members.isAlive(i.node))
      .map((i) => i.node)
      .sort((a, b) => this.rttOf(a) - this.rttOf(b));
    return [...out, ...others];
  }

  online(store: string): boolean {
    return this.nodesOf(store).length > 0;
  }

  rttOf(node: string): number {
    return node === this.selfNode ? 0 : (this.#node.rtt.get(node) ?? 100);
  }

  /** One candidate per live remote store (its lowest-RTT node), for placement. */
  candidates(): Candidate[] {
    const best = new Map<string, HolderInfo>();
    for (const i of this.#info.values()) {
      if (i.store === this.selfStore || !this.#node.members.isAlive(i.node)) continue;
      const cur = best.get(i.store);
      if (!cur || this.rttOf(i.node) < this.rttOf(cur.node)) best.set(i.store, i);
    }
    return [...best.values()].map((i) => ({
      node: i.node,
      store: i.store,
      device: deviceOfNode(i.node),
      freeBytes: Math.max(0, i.quota - i.used),
      rttMs: this.#node.rtt.get(i.node),
      reliability: this.reliability(i.store),
    }));
  }

  /** Records the outcome of a request to a store (put, get, audit). */
  report(store: string, ok: boolean): void {
    const s = this.#score.get(store) ?? { ok: 0, bad: 0 };
    if (ok) s.ok++;
    else s.bad++;
    this.#score.set(store, s);
  }

  /** 0..1; a new store starts at 1 and every failure lowers it. */
  reliability(store: string): number {
    const s = this.#score.get(store) ?? { ok: 0, bad: 0 };
    return (s.ok + 2) / (s.ok + s.bad + 2);
  }
}
