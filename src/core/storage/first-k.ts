/**
 * Tries `candidates` in order until `k` attempts succeed, with at most `k` in flight: a failed
 * attempt (`false`) makes room for the next candidate, a thrown error ends the whole run.
 * Returns how many succeeded (fewer than `k` when the candidates ran out). Both readers of a
 * stripe's shards (the mesh's own and a share link's guest) fetch through it, so neither asks
 * for a (k + 1)th shard while the last of the k is still on its way.
 */
export async function firstK<T>(
  candidates: readonly T[],
  k: number,
  attempt: (candidate: T) => Promise<boolean>,
): Promise<number> {
  let next = 0;
  let good = 0;
  let pending = 0;
  const lane = async (): Promise<void> => {
    while (good + pending < k && next < candidates.length) {
      const c = candidates[next++]!;
      pending++;
      let ok: boolean;
      try {
        ok = await attempt(c);
      } finally {
        pending--;
      }
      if (ok) good++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, k) }, lane));
  return good;
}
