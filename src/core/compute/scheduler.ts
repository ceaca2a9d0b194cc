import type { Resources } from '../resources.ts';

/**
 * Picks the best nodes for a request: "optimal, not fair". Scores free capacity, RTT to the
 * requester (local is best), visibility (hidden tabs are throttled by browsers), donation
 * limits and past reliability. Pure: the coordinator feeds it the registry and its leases.
 */
export type ResourceKind = 'cpu' | 'gpu';

export interface Candidate {
  id: string;
  resources: Resources;
  /** Worker slots already leased out by the coordinator. */
  leased: number;
  /** 0..1, from verified results and completed/failed tasks. */
  reliability: number;
}

export interface Request {
  kind: ResourceKind;
  /** Worker slots wanted in total (cpu), or 1 (gpu). */
  n: number;
  requester: string;
  exclude?: readonly string[];
}

export interface Slot {
  node: string;
  workers: number;
}

export function score(
  c: Candidate,
  req: Request,
  need: number,
  rttFromRequester: number | undefined,
): number {
  const r = c.resources;
  const capacity = req.kind === 'gpu' ? (r.compute.gpu ? 1 : 0) : r.compute.workers;
  if (capacity === 0) return -Infinity;
  const free = Math.max(0, capacity - c.leased);
  const useful = Math.min(free, need);
  const local = c.id === req.requester;
  const rtt = local ? 0 : (rttFromRequester ?? 50);
  // Slots that serve this request matter most; then latency (1 ms ≈ 0.1 slot), throttling of
  // hidden tabs and past reliability; running locally saves every transfer.
  let s = useful * 10 + (free === 0 ? -20 : 0) - rtt + (local ? 5 : 0);
  if (r.visibility === 'hidden') s = s > 0 ? s * 0.3 : s * 3;
  return s > 0 ? s * (0.25 + 0.75 * c.reliability) : s - (1 - c.reliability) * 10;
}

/** Takes slots greedily from the best node for what is still needed, until `req.n` are covered. */
export function plan(
  candidates: readonly Candidate[],
  req: Request,
  requesterRtt: Record<string, number>,
): Slot[] {
  const pool = candidates.filter(
    (c) => !req.exclude?.includes(c.id) && score(c, req, 1, requesterRtt[c.id]) > -Infinity,
  );
  const best = (need: number, usable: (c: Candidate) => boolean): Candidate | undefined =>
    pool
      .filter(usable)
      .map((c) => ({ c, s: score(c, req, need, requesterRtt[c.id]) }))
      .sort((a, b) => b.s - a.s || (a.c.id < b.c.id ? -1 : 1))[0]?.c;
  if (req.kind === 'gpu') {
    const g = best(1, () => true);
    return g ? [{ node: g.id, workers: 1 }] : [];
  }
  const slots: Slot[] = [];
  const taken = new Map<string, number>();
  const free = (c: Candidate): number =>
    Math.max(0, c.resources.compute.workers - c.leased - (taken.get(c.id) ?? 0));
  let need = req.n;
  // First free slots, best node for the remaining need first.
  for (let c = best(need, (x) => free(x) > 0); c && need > 0; c = best(need, (x) => free(x) > 0)) {
    const take = Math.min(free(c), need);
    taken.set(c.id, (taken.get(c.id) ?? 0) + take);
    need -= take;
  }
  // Then, only if the mesh is full, oversubscribe the best nodes.
  for (const c of pool.sort(
    (a, b) => score(b, req, need, requesterRtt[b.id]) - score(a, req, need, requesterRtt[a.id]),
  )) {
    if (need <= 0) break;
    const take = Math.min(c.resources.compute.workers, need);
    taken.set(c.id, (taken.get(c.id) ?? 0) + take);
    need -= take;
  }
  for (const [node, workers] of taken) slots.push({ node, workers });
  return slots;
}

export interface Lease {
  id: string;
  requester: string;
  kind: ResourceKind;
  slots: Slot[];
  expiresAt: number;
}

/** The coordinator's leases: TTL, release, and cleanup when a node is lost. */
export class LeaseTable {
  readonly #leases = new Map<string, Lease>();

  add(l: Lease): void {
    this.#leases.set(l.id, l);
  }

  get(id: string): Lease | undefined {
    return this.#leases.get(id);
  }

  release(id: string, by?: string): boolean {
    const l = this.#leases.get(id);
    if (!l || (by !== undefined && l.requester !== by)) return false;
    return this.#leases.delete(id);
  }

  /** Drops expired leases and those held by or placed on `lost` nodes. */
  sweep(now: number, alive: (id: string) => boolean): void {
    for (const [id, l] of this.#leases) {
      l.slots = l.slots.filter((s) => alive(s.node));
      if (l.expiresAt <= now || !alive(l.requester) || l.slots.length === 0)
        this.#leases.delete(id);
    }
  }

  leasedOn(node: string): number {
    let n = 0;
    for (const l of this.#leases.values())
      for (const s of l.slots) if (s.node === node) n += s.workers;
    return n;
  }

  size(): number {
    return this.#leases.size;
  }
}
