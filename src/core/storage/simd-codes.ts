import { gfInvertMatrix, gfMul } from './gf256.ts';
import type { GfSimd } from './gf256-simd.ts';
import type { RsWasm } from './rs-wasm.ts';
import { CoderFailedError } from './storage-errors.ts';

/** At most this many (k, m) codes are remembered (each is m·k bytes). */
const MAX_CODES = 64;
/** Shard size of the self-check stripe. */
const CHECK_BYTES = 80;

/**
 * Reed-Solomon over the SIMD kernel with exactly the wasm coder's code: its parity matrix P
 * (m × k) is read off the wasm coder itself, by encoding the k unit vectors (parity byte i of
 * shard j is then P[j][i]), so shards coded either way are interchangeable. Before a (k, m) code
 * is used here, a pseudo-random stripe is encoded both ways and must agree; if it ever does not,
 * that code stays with the wasm coder.
 *
 * Rebuilding is the usual linear algebra: the generator is G = [I; P]; the rows of G of k present
 * shards form an invertible matrix A, data = A⁻¹ · present, and a lost parity shard j is
 * (P[j] · A⁻¹) · present. Every lost shard is one row of coefficients over the same k inputs, so
 * one kernel call rebuilds data and parity alike.
 */
export class SimdCodes {
  readonly #rs: RsWasm;
  readonly #simd: GfSimd;
  /** (k, m) → P, row-major, or null when the self-check failed. */
  readonly #codes = new Map<string, Uint8Array | null>();

  constructor(rs: RsWasm, simd: GfSimd) {
    this.#rs = rs;
    this.#simd = simd;
  }

  get memoryBytes(): number {
    return this.#simd.memoryBytes;
  }

  reset(): void {
    this.#simd.reset();
  }

  /** Whether the (k, m) code runs here (probes and checks it on first use). */
  has(k: number, m: number): boolean {
    return this.#parity(k, m) !== null;
  }

  /** The m parity shards of k data shards of `size` bytes. */
  encode(data: readonly Uint8Array[], k: number, m: number, size: number): Uint8Array[] {
    return this.#simd.combine(this.#parity(k, m)!, m, data, size);
  }

  /** The shards at `missing` (ascending), rebuilt from any k of the present ones. */
  rebuild(
    shards: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
    size: number,
    missing: readonly number[],
  ): Uint8Array[] {
    const p = this.#parity(k, m)!;
    const row = (i: number): Uint8Array =>
      i < k ? unitRow(k, i) : p.subarray((i - k) * k, (i - k + 1) * k);
    const used: number[] = [];
    for (let i = 0; i < shards.length && used.length < k; i++) {
      if (shards[i] !== undefined) used.push(i);
    }
    const inverse = gfInvertMatrix(used.map(row));
    if (!inverse) throw new CoderFailedError('the present shards give a singular matrix');
    const coeffs = new Uint8Array(missing.length * k);
    missing.forEach((lost, r) => {
      // Lost data shard i: row i of A⁻¹. Lost parity j: P[j] · A⁻¹.
      const target = row(lost);
      for (let c = 0; c < k; c++) {
        let x = 0;
        for (let t = 0; t < k; t++) x ^= gfMul(target[t]!, inverse[t]![c]!);
        coeffs[r * k + c] = x;
      }
    });
    const inputs = used.map((i) => shards[i]!);
    return this.#simd.combine(coeffs, missing.length, inputs, size);
  }

  #parity(k: number, m: number): Uint8Array | null {
    const key = `${k},${m}`;
    let p = this.#codes.get(key);
    if (p === undefined) {
      p = this.#probe(k, m);
      if (this.#codes.size >= MAX_CODES) this.#codes.clear();
      this.#codes.set(key, p);
    }
    return p;
  }

  #probe(k: number, m: number): Uint8Array | null {
    const p = this.#rs.withStripe((k + m) * k, (stripe) => {
      const view = stripe.view();
      view.fill(0);
      for (let i = 0; i < k; i++) view[i * k + i] = 1;
      stripe.encode(k, m);
      return stripe.view().slice(k * k, (k + m) * k);
    });
    // The self-check: a pseudo-random stripe, both ways.
    let seed = (k * 7919 + m * 104729) >>> 0;
    const data = Array.from({ length: k }, () =>
      Uint8Array.from({ length: CHECK_BYTES }, () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed >>> 24;
      }),
    );
    const reference = this.#rs.withStripe((k + m) * CHECK_BYTES, (stripe) => {
      const view = stripe.view();
      data.forEach((d, i) => view.set(d, i * CHECK_BYTES));
      stripe.encode(k, m);
      return stripe.view().slice(k * CHECK_BYTES);
    });
    const ours = this.#simd.combine(p, m, data, CHECK_BYTES);
    const agree = ours.every((s, j) => s.every((b, i) => b === reference[j * CHECK_BYTES + i]));
    return agree ? p : null;
  }
}

function unitRow(k: number, i: number): Uint8Array {
  const r = new Uint8Array(k);
  r[i] = 1;
  return r;
}
