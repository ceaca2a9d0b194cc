/** Small statistics helpers shared by the benchmarks. */

/** A measured quantity: the median of its runs, and every run. */
export interface Stat {
  unit: string;
  median: number;
  runs: number[];
}

/** Nearest-rank percentile (`p` in 0..1) of `values`; 0 for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil(p * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] ?? 0;
}

/** The median; the mean of the two middle values for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid] ?? 0;
  return ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function stat(unit: string, runs: readonly number[], digits = 3): Stat {
  const round = (x: number): number => Number(x.toFixed(digits));
  return { unit, median: round(median(runs)), runs: runs.map(round) };
}

/** Builds one `Stat` per numeric field picked from per-run records. */
export function statOf<R>(unit: string, runs: readonly R[], pick: (r: R) => number): Stat {
  return stat(unit, runs.map(pick));
}
