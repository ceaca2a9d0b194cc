import { checkCoderParams } from './erasure.ts';
import { CoderParamsError } from './storage-errors.ts';

/** A stripe's code: k data shards, n shards in all (n − k parity), one holder per shard. */
export interface Redundancy {
  readonly k: number;
  readonly n: number;
}

/** Widest default stripe: more shards spread the load but make every read and repair touch more holders. */
export const DEFAULT_MAX_SHARDS = 12;

/**
 * The default code for `holders` distinct holders (nodes, different devices first). The bar is
 * that of three full copies — the stripe survives the loss of any two holders (n − k ≥ 2) — at
 * no more than 3× the size (n / k ≤ 3). Within that, one shard per holder (n = holders, capped
 * at `maxShards`) and a third of them parity (m = max(2, ⌈n/3⌉)), so wider meshes, which churn
 * more, also tolerate more losses while costing about 1.5×:
 *
 * | holders | k | n  | survives losing | size  |
 * | ------- | - | -- | --------------- | ----- |
 * | ≤ 3     | 1 | 3  | 2               | 3×    |
 * | 4       | 2 | 4  | 2               | 2×    |
 * | 5       | 3 | 5  | 2               | 1.67× |
 * | 6       | 4 | 6  | 2               | 1.5×  |
 * | 7       | 4 | 7  | 3               | 1.75× |
 * | 8       | 5 | 8  | 3               | 1.6×  |
 * | 9       | 6 | 9  | 3               | 1.5×  |
 * | 10      | 6 | 10 | 4               | 1.67× |
 * | 11      | 7 | 11 | 4               | 1.57× |
 * | ≥ 12    | 8 | 12 | 4               | 1.5×  |
 *
 * With fewer than 3 holders the answer is still (1, 3): three replicas, of which the missing
 * ones wait locally and the file counts as under-replicated (n > holders) until peers come.
 */
export function chooseRedundancy(holders: number, maxShards = DEFAULT_MAX_SHARDS): Redundancy {
  if (!Number.isInteger(holders) || holders < 0) {
    throw new CoderParamsError(`holder count must be an integer ≥ 0, got ${holders}`);
  }
  if (!Number.isInteger(maxShards) || maxShards < 3 || maxShards > 256) {
    throw new CoderParamsError(`maxShards must be an integer in 3..256, got ${maxShards}`);
  }
  const n = Math.max(3, Math.min(holders, maxShards));
  const m = Math.max(2, Math.ceil(n / 3));
  return { k: n - m, n };
}

/** Checks a per-file choice: 1 ≤ k < n ≤ 256 (any such code is allowed, even below the default bar). */
export function checkRedundancy(r: Redundancy): Redundancy {
  checkCoderParams(r.k, r.n - r.k);
  return { k: r.k, n: r.n };
}

/** Whether a code meets the default bar: survives any two losses within 3× the size. */
export function meetsDefaultBar(r: Redundancy): boolean {
  return r.n - r.k >= 2 && r.n <= 3 * r.k;
}

/** The per-file choice if given (validated), else the default for `holders`. */
export function resolveRedundancy(holders: number, perFile?: Redundancy): Redundancy {
  return perFile ? checkRedundancy(perFile) : chooseRedundancy(holders);
}
