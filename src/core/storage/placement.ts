/**
 * Where the shards of one stripe go. Every shard on a different store (a node's IndexedDB),
 * different devices first (two tabs of one phone die together), only stores with room for the
 * shard, then the best by reliability, round-trip time and free space. Pure: the caller brings
 * the candidates (HolderDirectory) and fills any slot left empty with the local store, where
 * the shard waits until repair can move it out.
 */
export interface Candidate {
  node: string;
  store: string;
  device: string;
  /** Donated bytes not yet used. */
  freeBytes: number;
  rttMs: number | undefined;
  /** 0..1 from past requests. */
  reliability: number;
}

export interface PlacementRequest {
  /** Bytes of each shard. */
  bytes: number;
  /** Stores that must not be picked (already hold a shard of the stripe, or failed). */
  avoidStores?: ReadonlySet<string>;
  /** Devices that already hold shards of the stripe (used last). */
  usedDevices?: Iterable<string>;
}

/** RTT assumed for a node not measured yet, ms. */
const UNKNOWN_RTT_MS = 100;
/** Free space beyond which more does not raise the score. */
const ROOMY_BYTES = 256 * 1024 * 1024;

/** Higher is better: reliability first, then latency, then free space. */
export function candidateScore(c: Candidate): number {
  const rtt = c.rttMs ?? UNKNOWN_RTT_MS;
  const latency = 20 / (20 + rtt);
  const space = 0.5 + 0.5 * Math.min(1, c.freeBytes / ROOMY_BYTES);
  return c.reliability ** 2 * latency * space;
}

/** Up to `count` distinct stores for one stripe's shards, best first. */
export function placeShards(
  candidates: readonly Candidate[],
  count: number,
  req: PlacementRequest,
): Candidate[] {
  const avoid = new Set(req.avoidStores ?? []);
  const devices = new Map<string, number>();
  for (const d of req.usedDevices ?? []) devices.set(d, (devices.get(d) ?? 0) + 1);
  const pool = candidates.filter((c) => !avoid.has(c.store) && c.freeBytes >= req.bytes);
  const out: Candidate[] = [];
  while (out.length < count && pool.length > 0) {
    let bestAt = 0;
    for (let i = 1; i < pool.length; i++) {
      if (better(pool[i]!, pool[bestAt]!, devices)) bestAt = i;
    }
    const pick = pool[bestAt]!;
    out.push(pick);
    devices.set(pick.device, (devices.get(pick.device) ?? 0) + 1);
    // One shard per store: drop every candidate of the same store.
    for (let i = pool.length - 1; i >= 0; i--) if (pool[i]!.store === pick.store) pool.splice(i, 1);
  }
  return out;
}

function better(a: Candidate, b: Candidate, devices: ReadonlyMap<string, number>): boolean {
  const da = devices.get(a.device) ?? 0;
  const db = devices.get(b.device) ?? 0;
  if (da !== db) return da < db;
  const sa = candidateScore(a);
  const sb = candidateScore(b);
  if (sa !== sb) return sa > sb;
  return a.store < b.store;
}

/** How many distinct stores could each take a shard of `bytes` (for choosing k and n). */
export function distinctHolders(candidates: readonly Candidate[], bytes: number): number {
  return new Set(candidates.filter((c) => c.freeBytes >= bytes).map((c) => c.store)).size;
}
