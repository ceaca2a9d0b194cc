import { nibbleTables } from './gf256.ts';

/**
 * Bulk GF(2^8) linear combinations with WebAssembly SIMD: `out[j] = Σ_i c[j][i] · in[i]` over
 * equal-length byte shards. This is the inner loop of Reed-Solomon encoding and decoding; the
 * `reed-solomon-erasure` wasm does it one byte and one table lookup at a time (≈ 300 MB/s
 * here), this does 16 bytes per step with two `i8x16.swizzle` nibble-table lookups (the method
 * of ISA-L and klauspost/reedsolomon), several times faster.
 *
 * The module is ~150 bytes written out below (no toolchain, nothing fetched): one function
 * `mulxor(src, dst, len, tables)` doing `dst[0..len) ^= c · src[0..len)` 16 bytes at a time,
 * with c given by its 32 bytes of nibble tables at `tables`. Lengths are rounded up to 16; the
 * padding is computed and thrown away.
 */

/** Function body: locals, then code (see the comments); sizes are filled in by `module()`. */
// prettier-ignore
const BODY = [
  0x02, 0x01, 0x7f, 0x04, 0x7b, // locals: end i32 (4); lo, hi, mask, x v128 (5..8)
  0x20, 0x03, 0xfd, 0x00, 0x00, 0x00, 0x21, 0x05, // lo = v128.load(tables)
  0x20, 0x03, 0xfd, 0x00, 0x00, 0x10, 0x21, 0x06, // hi = v128.load(tables + 16)
  0x41, 0x0f, 0xfd, 0x0f, 0x21, 0x07, // mask = i8x16.splat(15)
  0x20, 0x00, 0x20, 0x02, 0x6a, 0x21, 0x04, // end = src + len
  0x02, 0x40, // block
  0x03, 0x40, // loop
  0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, // br_if 1 (src >= end)
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x21, 0x08, // x = v128.load(src)
  0x20, 0x01, // dst (the store's address)
  0x20, 0x01, 0xfd, 0x00, 0x00, 0x00, // v128.load(dst)
  0x20, 0x05, 0x20, 0x08, 0x20, 0x07, 0xfd, 0x4e, 0xfd, 0x0e, // swizzle(lo, x & mask)
  0xfd, 0x51, // xor
  0x20, 0x06, 0x20, 0x08, 0x41, 0x04, 0xfd, 0x6d, 0xfd, 0x0e, // swizzle(hi, x >>u 4)
  0xfd, 0x51, // xor
  0xfd, 0x0b, 0x00, 0x00, // v128.store(dst)
  0x20, 0x00, 0x41, 0x10, 0x6a, 0x21, 0x00, // src += 16
  0x20, 0x01, 0x41, 0x10, 0x6a, 0x21, 0x01, // dst += 16
  0x0c, 0x00, // br 0
  0x0b, // end loop
  0x0b, // end block
  0x0b, // end function
];

/** A section: id, byte length (< 128 here, so one LEB128 byte), contents. */
const section = (id: number, bytes: number[]): number[] => [id, bytes.length, ...bytes];

/** The kernel's module bytes (exported for the browser suite, which validates them in Chromium). */
export const GF_SIMD_MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...section(1, [0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00]), // type (i32 ×4) -> ()
  ...section(2, [0x01, 0x01, 0x6d, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x01]), // import m.mem
  ...section(3, [0x01, 0x00]), // one function of type 0
  ...section(7, [0x01, 0x06, ...[0x6d, 0x75, 0x6c, 0x78, 0x6f, 0x72], 0x00, 0x00]), // "mulxor"
  ...section(10, [0x01, BODY.length, ...BODY]), // code
]);

type MulXor = (src: number, dst: number, len: number, tables: number) => void;

const PAGE = 65536;
/** Work in blocks of this many bytes per shard, so a block's inputs and outputs stay in cache. */
const BLOCK = 32 * 1024;

let compiled: WebAssembly.Module | null | undefined;

/** The compiled kernel, or null where WebAssembly SIMD is not available. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = WebAssembly.validate(GF_SIMD_MODULE)
        ? new WebAssembly.Module(GF_SIMD_MODULE)
        : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/** True where this runtime has WebAssembly SIMD (every current browser and Node ≥ 16.4). */
export function hasGfSimd(): boolean {
  return kernelModule() !== null;
}

/**
 * One kernel instance with its own memory, which grows to the largest call and is dropped (a
 * fresh instance made) after a call that left it above `maxMemoryBytes`.
 */
export class GfSimd {
  readonly #module: WebAssembly.Module;
  readonly #maxMemoryBytes: number;
  #memory: WebAssembly.Memory | undefined;
  #mulxor: MulXor | undefined;

  private constructor(module: WebAssembly.Module, maxMemoryBytes: number) {
    this.#module = module;
    this.#maxMemoryBytes = maxMemoryBytes;
  }

  /** A kernel, or undefined where WebAssembly SIMD is not available. */
  static create(maxMemoryBytes = 64 << 20): GfSimd | undefined {
    const module = kernelModule();
    return module ? new GfSimd(module, maxMemoryBytes) : undefined;
  }

  get memoryBytes(): number {
    return this.#memory?.buffer.byteLength ?? 0;
  }

  reset(): void {
    this.#memory = undefined;
    this.#mulxor = undefined;
  }

  /**
   * `rows` outputs of `size` bytes: output j = Σ_i coeffs[j·k + i] · inputs[i], k = inputs.length.
   * Callers check the shapes (erasure.ts); coefficients are bytes.
   */
  combine(
    coeffs: Uint8Array,
    rows: number,
    inputs: readonly Uint8Array[],
    size: number,
  ): Uint8Array[] {
    const k = inputs.length;
    const padded = Math.ceil(size / 16) * 16;
    const tablesBytes = 32 * rows * k;
    const inAt = tablesBytes;
    const outAt = inAt + k * padded;
    const bytes = outAt + rows * padded;
    const mem = this.#memoryFor(bytes);
    const view = new Uint8Array(mem.buffer);
    for (let j = 0; j < rows; j++) {
      for (let i = 0; i < k; i++) nibbleTables(coeffs[j * k + i]!, view, 32 * (j * k + i));
    }
    for (let i = 0; i < k; i++) view.set(inputs[i]!.subarray(0, size), inAt + i * padded);
    view.fill(0, outAt, bytes);
    const mulxor = this.#mulxor!;
    for (let from = 0; from < padded; from += BLOCK) {
      const len = Math.min(BLOCK, padded - from);
      for (let j = 0; j < rows; j++) {
        const dst = outAt + j * padded + from;
        for (let i = 0; i < k; i++) {
          if (coeffs[j * k + i] === 0) continue;
          mulxor(inAt + i * padded + from, dst, len, 32 * (j * k + i));
        }
      }
    }
    const out: Uint8Array[] = [];
    for (let j = 0; j < rows; j++) {
      out.push(view.slice(outAt + j * padded, outAt + j * padded + size));
    }
    if (mem.buffer.byteLength > this.#maxMemoryBytes) this.reset();
    return out;
  }

  #memoryFor(bytes: number): WebAssembly.Memory {
    if (!this.#memory) {
      const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
      const instance = new WebAssembly.Instance(this.#module, { m: { mem: memory } });
      this.#memory = memory;
      this.#mulxor = instance.exports['mulxor'] as MulXor;
    }
    const have = this.#memory.buffer.byteLength;
    if (have < bytes) this.#memory.grow(Math.ceil((bytes - have) / PAGE));
    return this.#memory;
  }
}
