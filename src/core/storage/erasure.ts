import { GfSimd } from './gf256-simd.ts';
import { compileRsWasm, RsWasm, type RsWasmSource } from './rs-wasm.ts';
import { SimdCodes } from './simd-codes.ts';
import { CoderFailedError, CoderParamsError, NotEnoughShardsError } from './storage-errors.ts';

/**
 * Reed-Solomon erasure coding of one stripe: k data shards of equal size give m parity shards,
 * and any k of the n = k + m shards give back all n. A safe wrapper over the wasm coder:
 * parameters and shard sizes are validated before the wasm runs (it traps on bad ones), lost
 * parity is recomputed (the wasm only rebuilds data), the wasm's reconstruct runs only when data
 * is missing, and a failed instance is replaced (see rs-wasm.ts for the quirks).
 *
 * Where WebAssembly SIMD exists (every current browser, Node ≥ 16.4) the bulk work runs in our
 * SIMD kernel (gf256-simd.ts) with the wasm coder's own matrix (simd-codes.ts), checked against
 * the wasm coder once per (k, m); the wasm coder remains the reference and the fallback.
 *
 * Synchronous and CPU-bound: run it in a worker for big stripes.
 */
export interface ErasureCoder {
  /** The m parity shards of `data` (k = data.length shards of one size), as fresh arrays. */
  encode(data: readonly Uint8Array[], m: number): Uint8Array[];
  /**
   * All n = k + m shards from at least k present ones (`undefined` = missing). Present shards
   * are returned as given (not copied or checked: verify their hashes first); missing ones,
   * data and parity alike, are rebuilt into fresh arrays.
   */
  reconstruct(shards: readonly (Uint8Array | undefined)[], k: number, m: number): Uint8Array[];
  /** Bytes of wasm memory held now. */
  readonly memoryBytes: number;
  /** Drops the wasm instance and its memory; the next call makes a fresh one. */
  reset(): void;
}

/** GF(2^8) allows at most 256 shards per stripe. */
export const MAX_SHARDS = 256;
/** Upper bound on k·shardSize + m·shardSize per call (wasm32 memory is at most 4 GiB). */
export const MAX_STRIPE_BYTES = 1 << 30;

export interface ErasureCoderOptions {
  /**
   * Drop the instance after a call that left its memory above this (default 64 MiB): wee_alloc
   * fragments and never shrinks (≈ 30 MiB after many mixed small calls), a fresh instance is cheap.
   */
  maxMemoryBytes?: number;
  /** Use the SIMD kernel where available (default true); false = the wasm coder alone. */
  simd?: boolean;
}

/**
 * Loads the coder. The wasm arrives from the platform: in Node the bytes of the package's
 * `reed_solomon_erasure_bg.wasm`, in the browser the module compiled from its URL (see
 * src/platform/storage/). Compiles once and instantiates asynchronously (allowed on a browser's
 * main thread for any size); a replacement instance after a failure is made synchronously.
 */
export async function createErasureCoder(
  wasm: RsWasmSource,
  opts: ErasureCoderOptions = {},
): Promise<ErasureCoder> {
  const module = await compileRsWasm(wasm);
  const first = await WebAssembly.instantiate(module, {});
  const max = opts.maxMemoryBytes ?? 64 << 20;
  const rs = new RsWasm(module, first, max);
  const simd = opts.simd === false ? undefined : GfSimd.create(max);
  return new SafeErasureCoder(rs, simd ? new SimdCodes(rs, simd) : undefined);
}

/** Throws BAD_CODER_PARAMS unless k ≥ 1, m ≥ 1 and k + m ≤ 256 are integers. */
export function checkCoderParams(k: number, m: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new CoderParamsError(`data shard count k must be an integer ≥ 1, got ${k}`);
  }
  if (!Number.isInteger(m) || m < 1) {
    throw new CoderParamsError(`parity shard count m must be an integer ≥ 1, got ${m}`);
  }
  if (k + m > MAX_SHARDS) {
    throw new CoderParamsError(`k + m = ${k + m} exceeds ${MAX_SHARDS} shards (GF(2^8) limit)`);
  }
}

/** The common size of the given shards; throws BAD_CODER_PARAMS if they differ or are empty. */
function shardSizeOf(shards: readonly (Uint8Array | undefined)[], n: number): number {
  let size = -1;
  for (let i = 0; i < shards.length; i++) {
    const s = shards[i];
    if (s === undefined) continue;
    if (!(s instanceof Uint8Array)) throw new CoderParamsError(`shard ${i} is not a Uint8Array`);
    if (s.length === 0) throw new CoderParamsError(`shard ${i} is empty; shards need ≥ 1 byte`);
    if (size === -1) size = s.length;
    else if (s.length !== size) {
      throw new CoderParamsError(`shard ${i} has ${s.length} bytes, others have ${size}`);
    }
  }
  if (size * n > MAX_STRIPE_BYTES) {
    throw new CoderParamsError(
      `${n} shards of ${size} bytes exceed ${MAX_STRIPE_BYTES} bytes per stripe; use smaller stripes`,
    );
  }
  return size;
}

class SafeErasureCoder implements ErasureCoder {
  readonly #rs: RsWasm;
  readonly #simd: SimdCodes | undefined;

  constructor(rs: RsWasm, simd: SimdCodes | undefined) {
    this.#rs = rs;
    this.#simd = simd;
  }

  get memoryBytes(): number {
    return this.#rs.memoryBytes + (this.#simd?.memoryBytes ?? 0);
  }

  reset(): void {
    this.#rs.reset();
    this.#simd?.reset();
  }

  encode(data: readonly Uint8Array[], m: number): Uint8Array[] {
    if (!Array.isArray(data)) throw new CoderParamsError('data must be an array of shards');
    const k = data.length;
    checkCoderParams(k, m);
    const size = shardSizeOf(data, k + m);
    if (this.#simd?.has(k, m)) return this.#simdCall(() => this.#simd!.encode(data, k, m, size));
    return this.#rs.withStripe((k + m) * size, (stripe) => {
      const view = stripe.view();
      for (let i = 0; i < k; i++) view.set(data[i]!, i * size);
      stripe.encode(k, m);
      return copyOut(stripe.view(), size, k, k + m);
    });
  }

  reconstruct(shards: readonly (Uint8Array | undefined)[], k: number, m: number): Uint8Array[] {
    checkCoderParams(k, m);
    if (!Array.isArray(shards)) throw new CoderParamsError('shards must be an array');
    const n = k + m;
    if (shards.length !== n) {
      throw new CoderParamsError(
        `expected ${n} shard slots (k=${k}, m=${m}), got ${shards.length}`,
      );
    }
    const missing: number[] = [];
    for (let i = 0; i < n; i++) if (shards[i] === undefined) missing.push(i);
    if (n - missing.length < k) throw new NotEnoughShardsError(n - missing.length, k);
    const size = shardSizeOf(shards, n);
    if (missing.length === 0) return shards.slice() as Uint8Array[];
    const present = shards.map((s) => s !== undefined);
    const rebuilt = this.#simd?.has(k, m)
      ? this.#simdCall(() => this.#simd!.rebuild(shards, k, m, size, missing))
      : this.#rebuildWithWasm(shards, k, m, size, missing, present);
    const all = shards.slice() as Uint8Array[];
    missing.forEach((i, j) => (all[i] = rebuilt[j]!));
    return all;
  }

  #simdCall<T>(body: () => T): T {
    try {
      return body();
    } catch (e) {
      this.#simd!.reset();
      if (e instanceof CoderFailedError) throw e;
      throw new CoderFailedError(e instanceof Error ? e.message : String(e), e);
    }
  }

  #rebuildWithWasm(
    shards: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
    size: number,
    missing: readonly number[],
    present: readonly boolean[],
  ): Uint8Array[] {
    const n = k + m;
    return this.#rs.withStripe(n * size, (stripe) => {
      const view = stripe.view();
      for (let i = 0; i < n; i++) {
        const s = shards[i];
        if (s === undefined) view.fill(0, i * size, (i + 1) * size);
        else view.set(s, i * size);
      }
      // Only call the wasm's reconstruct when data is missing; it never restores parity, so
      // lost parity is recomputed from the (now complete) data by encoding in place.
      const dataLost = missing[0]! < k;
      const parityLost = missing[missing.length - 1]! >= k;
      if (dataLost) stripe.reconstructData(k, m, present);
      if (parityLost) stripe.encode(k, m);
      const out = stripe.view();
      return missing.map((i) => out.slice(i * size, (i + 1) * size));
    });
  }
}

function copyOut(view: Uint8Array, size: number, from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) out.push(view.slice(i * size, (i + 1) * size));
  return out;
}
