import { CoderFailedError } from './storage-errors.ts';

/**
 * The raw binding to the Reed-Solomon wasm of `@digitaldefiance/reed-solomon-erasure.wasm`
 * (the `reed-solomon-erasure` Rust crate over GF(2^8), the Backblaze construction, built with
 * wasm-bindgen and wee_alloc). We talk to its five exports directly instead of through the
 * package's JS wrapper, because that wrapper:
 *
 * - frees the `shards_available` buffer after `reconstruct`, but the wasm's `reconstruct` takes
 *   that buffer by value and frees it itself: the double free corrupts wee_alloc's free list, so
 *   on a reused instance later calls return TOO_FEW_SHARDS_PRESENT, restore wrong bytes or trap
 *   with "memory access out of bounds" (this is the "parity-only loss on a reused instance
 *   misbehaves" of DESIGN.md: the first loss pattern after any reconstruct hits it);
 * - copies back only the data shards after `reconstruct`, whose Rust side only rebuilds data
 *   (`reconstruct_data`): lost parity stays zero;
 * - loads its .wasm by `fetch('./…')` or `__dirname`, neither of which works in a Vite bundle or
 *   in Node ESM.
 *
 * The Rust side `unwrap()`s `ReedSolomon::new(k, m)` and slices with `chunks_exact_mut(len / n)`,
 * so k = 0, m = 0, k + m > 256 or a buffer shorter than n bytes trap (`unreachable`). Callers
 * validate first (erasure.ts); any trap that still happens discards the instance, since a trap
 * mid-call can leave the allocator inconsistent, and the next call gets a fresh one.
 */
interface RsExports {
  readonly memory: WebAssembly.Memory;
  encode(ptr: number, len: number, k: number, m: number): number;
  reconstruct(ptr: number, len: number, k: number, m: number, flags: number, n: number): number;
  __wbindgen_malloc(len: number): number;
  __wbindgen_free(ptr: number, len: number): void;
}

/** The wasm, as compiled module or bytes, or a promise of either (how it is loaded is the caller's). */
export type RsWasmSource =
  WebAssembly.Module | BufferSource | Promise<WebAssembly.Module | BufferSource>;

const RESULT_MESSAGES: readonly string[] = [
  'OK',
  'too few shards',
  'too many shards',
  'too few data shards',
  'too many data shards',
  'too few parity shards',
  'too many parity shards',
  'too few buffer shards',
  'too many buffer shards',
  'incorrect shard size',
  'too few shards present',
  'empty shard',
  'invalid shard flags',
  'invalid index',
];

function isExports(e: WebAssembly.Exports): e is WebAssembly.Exports & RsExports {
  return (
    e['memory'] instanceof WebAssembly.Memory &&
    ['encode', 'reconstruct', '__wbindgen_malloc', '__wbindgen_free'].every(
      (f) => typeof e[f] === 'function',
    )
  );
}

function checkedExports(instance: WebAssembly.Instance): RsExports {
  const e = instance.exports;
  if (!isExports(e)) throw new CoderFailedError('the wasm lacks the expected exports');
  return e;
}

/** Compiles the coder wasm once; instances are cheap (one 1.2 MiB memory each). */
export async function compileRsWasm(source: RsWasmSource): Promise<WebAssembly.Module> {
  const s = await source;
  return s instanceof WebAssembly.Module ? s : WebAssembly.compile(s);
}

/**
 * One wasm instance, replaced after any failure. Works on one contiguous buffer of n equal
 * shards inside wasm memory: `withStripe` allocates it, lets the caller fill it, run the coder
 * and copy out, then frees it.
 */
export class RsWasm {
  readonly #module: WebAssembly.Module;
  #x: RsExports | undefined;
  readonly #maxMemoryBytes: number;

  constructor(module: WebAssembly.Module, first: WebAssembly.Instance, maxMemoryBytes: number) {
    this.#module = module;
    this.#x = checkedExports(first);
    this.#maxMemoryBytes = maxMemoryBytes;
  }

  /** Bytes of wasm memory held now (grows with the largest stripe, never shrinks). */
  get memoryBytes(): number {
    return this.#x?.memory.buffer.byteLength ?? 0;
  }

  /**
   * Runs `body` with a `len`-byte buffer in wasm memory. `view()` must be called again after
   * anything that may grow memory (the coder calls themselves do not allocate large buffers,
   * but a view is cheap). Any exception discards the instance.
   */
  withStripe<T>(len: number, body: (stripe: RsStripe) => T): T {
    const x = (this.#x ??= checkedExports(new WebAssembly.Instance(this.#module, {})));
    try {
      const ptr = x.__wbindgen_malloc(len);
      const stripe = new RsStripe(x, ptr, len);
      const result = body(stripe);
      x.__wbindgen_free(ptr, len);
      if (x.memory.buffer.byteLength > this.#maxMemoryBytes) this.#x = undefined;
      return result;
    } catch (e) {
      this.#x = undefined;
      if (e instanceof CoderFailedError) throw e;
      throw new CoderFailedError(e instanceof Error ? e.message : String(e), e);
    }
  }

  /** Drops the instance (and its memory); the next call makes a fresh one. */
  reset(): void {
    this.#x = undefined;
  }
}

/** A stripe buffer inside wasm memory: n shards of `shardSize` bytes from `ptr`. */
export class RsStripe {
  readonly #x: RsExports;
  readonly ptr: number;
  readonly len: number;

  constructor(x: RsExports, ptr: number, len: number) {
    this.#x = x;
    this.ptr = ptr;
    this.len = len;
  }

  /** A view of the stripe; valid until wasm memory grows. */
  view(): Uint8Array {
    return new Uint8Array(this.#x.memory.buffer, this.ptr, this.len);
  }

  /** Fills the parity shards from the data shards, in place. */
  encode(k: number, m: number): void {
    this.#check('encode', this.#x.encode(this.ptr, this.len, k, m));
  }

  /** Rebuilds the data shards whose flag is false, in place; parity is left as it was. */
  reconstructData(k: number, m: number, present: readonly boolean[]): void {
    const n = present.length;
    const flags = this.#x.__wbindgen_malloc(n);
    new Uint8Array(this.#x.memory.buffer, flags, n).set(present.map((p) => (p ? 1 : 0)));
    // `flags` is owned and freed by the wasm's reconstruct: freeing it here too corrupts the heap.
    this.#check('reconstruct', this.#x.reconstruct(this.ptr, this.len, k, m, flags, n));
  }

  #check(op: string, code: number): void {
    if (code !== 0) {
      throw new CoderFailedError(`${op} returned ${code} (${RESULT_MESSAGES[code] ?? 'unknown'})`);
    }
  }
}
