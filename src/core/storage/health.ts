/**
 * A file's health from the state of its shards. Per stripe: the good shards grouped by store;
 * how many stores could still be lost, in the worst case (largest groups first), before fewer
 * than k good shards remain. The file is as healthy as its weakest stripe:
 *
 * - `healthy`: every stripe survives the loss of n − k stores (full redundancy);
 * - `degraded`: every stripe survives at least one more loss, but not n − k;
 * - `at-risk`: some stripe is readable but one more lost store would make it unreadable;
 * - `lost`: some stripe has fewer than k good shards reachable now.
 *
 * Shards that wait on the uploader's store (too few peers at upload) share one store with
 * other shards of their stripe; they count as `crowded`, and a file whose shards all wait
 * locally is `at-risk` until repair moves them out.
 */
export type ShardStatus = 'ok' | 'missing' | 'corrupt' | 'offline';
export type HealthState = 'healthy' | 'degraded' | 'at-risk' | 'lost';

export interface FileHealth {
  state: HealthState;
  k: number;
  n: number;
  stripes: number;
  /** Shard counts over all stripes, by status. */
  shards: Record<ShardStatus, number>;
  /** Shards that share a store with another shard of their stripe (repair spreads them). */
  crowded: number;
  /** Fewest good shards in any stripe. */
  minGood: number;
  /** Fewest store losses any stripe survives now (−1 when lost). */
  tolerance: number;
  /** Distinct stores holding good shards. */
  stores: number;
}

/** Store losses a stripe survives: remove the biggest groups until fewer than k would remain. */
export function stripeTolerance(goodStores: readonly string[], k: number): number {
  if (goodStores.length < k) return -1;
  const counts = new Map<string, number>();
  for (const s of goodStores) counts.set(s, (counts.get(s) ?? 0) + 1);
  const groups = [...counts.values()].sort((a, b) => b - a);
  let left = goodStores.length;
  let lost = 0;
  for (const g of groups) {
    if (left - g < k) break;
    left -= g;
    lost++;
  }
  return lost;
}

export function computeHealth(
  k: number,
  n: number,
  stripes: readonly { store: string; status: ShardStatus }[][],
): FileHealth {
  const shards: Record<ShardStatus, number> = { ok: 0, missing: 0, corrupt: 0, offline: 0 };
  let crowded = 0;
  let minGood = Infinity;
  let tolerance = Infinity;
  const stores = new Set<string>();
  for (const stripe of stripes) {
    const good: string[] = [];
    crowded += stripe.length - new Set(stripe.map((x) => x.store)).size;
    for (const x of stripe) {
      shards[x.status]++;
      if (x.status === 'ok') {
        good.push(x.store);
        stores.add(x.store);
      }
    }
    minGood = Math.min(minGood, good.length);
    tolerance = Math.min(tolerance, stripeTolerance(good, k));
  }
  const state: HealthState =
    tolerance < 0
      ? 'lost'
      : tolerance === 0
        ? 'at-risk'
        : tolerance < n - k
          ? 'degraded'
          : 'healthy';
  return {
    state,
    k,
    n,
    stripes: stripes.length,
    shards,
    crowded,
    minGood: Number.isFinite(minGood) ? minGood : 0,
    tolerance: Number.isFinite(tolerance) ? tolerance : -1,
    stores: stores.size,
  };
}
