import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ErasureCoder } from '../../src/core/storage/erasure.ts';
import { gfInverse, gfInvertMatrix, gfMul, nibbleTables } from '../../src/core/storage/gf256.ts';
import { GfSimd, hasGfSimd } from '../../src/core/storage/gf256-simd.ts';
import { compileRsWasm, RsWasm } from '../../src/core/storage/rs-wasm.ts';
import { SimdCodes } from '../../src/core/storage/simd-codes.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createNodeErasureCoder, rsWasmPath } from '../../src/platform/storage/rs-wasm-node.ts';

const bytes = seededBytes(seededRandom(7));

describe('GF(2^8), polynomial 0x11d', () => {
  it('multiplies by the field vectors', () => {
    // x · x^7 = x^8 = x^4 + x^3 + x^2 + 1; 2 generates the field; known products.
    expect(gfMul(2, 0x80)).toBe(0x1d);
    expect(gfMul(0x53, 0xca)).toBe(0x8f);
    expect(gfMul(0, 0x55)).toBe(0);
    expect(gfMul(1, 0x55)).toBe(0x55);
    const seen = new Set<number>();
    for (let i = 0, x = 1; i < 255; i++, x = gfMul(x, 2)) seen.add(x);
    expect(seen.size).toBe(255);
  });

  it('inverts every non-zero element and refuses 0', () => {
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfInverse(a))).toBe(1);
    expect(() => gfInverse(0)).toThrow(RangeError);
  });

  it('inverts matrices and reports singular ones', () => {
    const m = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5, 6), Uint8Array.of(7, 8, 10)];
    const inv = gfInvertMatrix(m)!;
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        let x = 0;
        for (let t = 0; t < 3; t++) x ^= gfMul(m[r]![t]!, inv[t]![c]!);
        expect(x).toBe(r === c ? 1 : 0);
      }
    }
    expect(gfInvertMatrix([Uint8Array.of(1, 2), Uint8Array.of(2, 4)])).toBeUndefined();
  });

  it('nibble tables give every product', () => {
    const t = new Uint8Array(32);
    for (const c of [0, 1, 2, 0x8e, 0xff]) {
      nibbleTables(c, t, 0);
      for (let b = 0; b < 256; b++) expect(t[b & 15]! ^ t[16 + (b >> 4)]!).toBe(gfMul(c, b));
    }
  });
});

describe('SIMD kernel', () => {
  it('is available here (Node has WebAssembly SIMD)', () => {
    expect(hasGfSimd()).toBe(true);
  });

  it('computes Σ c·in for every length around the 16-byte steps, zero coefficients included', () => {
    const simd = GfSimd.create()!;
    for (const size of [1, 15, 16, 17, 31, 33, 1000, 40_000, 70_001]) {
      const k = 3;
      const rows = 2;
      const inputs = Array.from({ length: k }, () => bytes(size));
      const coeffs = Uint8Array.of(0, 1, 0x8e, 0xff, 0, 2);
      const out = simd.combine(coeffs, rows, inputs, size);
      for (let j = 0; j < rows; j++) {
        expect(out[j]!.length).toBe(size);
        const want = new Uint8Array(size);
        for (let i = 0; i < k; i++) {
          inputs[i]!.forEach((b, x) => (want[x]! ^= gfMul(coeffs[j * k + i]!, b)));
        }
        expect(out[j]).toEqual(want);
      }
    }
  });

  it('drops its memory after a call above the cap and keeps working', () => {
    const simd = GfSimd.create(1 << 20)!;
    const big = [bytes(1 << 20), bytes(1 << 20)];
    simd.combine(Uint8Array.of(1, 1), 1, big, 1 << 20);
    expect(simd.memoryBytes).toBe(0);
    const small = [Uint8Array.of(1, 2), Uint8Array.of(3, 4)];
    expect([...simd.combine(Uint8Array.of(1, 1), 1, small, 2)[0]!]).toEqual([2, 6]);
  });
});

describe('erasure coder: SIMD kernel against the wasm coder alone', () => {
  let fast: ErasureCoder;
  let wasm: ErasureCoder;
  beforeAll(async () => {
    fast = await createNodeErasureCoder();
    wasm = await createNodeErasureCoder({ simd: false });
  });

  for (const [k, n] of [
    [1, 2],
    [2, 4],
    [3, 5],
    [4, 6],
    [5, 8],
    [10, 14],
  ] as const) {
    it(`(${k},${n}): same parity, and every pattern of ≤ ${n - k} losses rebuilt the same`, () => {
      const m = n - k;
      for (const size of [1, 16, 33]) {
        const data = Array.from({ length: k }, () => bytes(size));
        const parity = fast.encode(data, m);
        expect(parity).toEqual(wasm.encode(data, m));
        const full = [...data, ...parity];
        for (let mask = 1; mask < 1 << n; mask++) {
          const lost = [...Array(n).keys()].filter((i) => mask & (1 << i));
          if (lost.length > m) continue;
          const holed = full.map((s, i) => (lost.includes(i) ? undefined : s));
          expect(fast.reconstruct(holed, k, m)).toEqual(full);
        }
      }
    });
  }

  it('a (k, m) code whose self-check fails stays with the wasm coder', async () => {
    const module = await compileRsWasm(readFile(rsWasmPath()));
    const rs = new RsWasm(module, await WebAssembly.instantiate(module, {}), 1 << 30);
    const real = GfSimd.create()!;
    // A kernel that is wrong in one bit: the self-check must catch it.
    const broken = Object.assign(Object.create(GfSimd.prototype) as GfSimd, {
      combine: (c: Uint8Array, r: number, inputs: readonly Uint8Array[], size: number) => {
        const out = real.combine(c, r, inputs, size);
        out[0]![0]! ^= 1;
        return out;
      },
    });
    expect(new SimdCodes(rs, broken).has(3, 2)).toBe(false);
    expect(new SimdCodes(rs, real).has(3, 2)).toBe(true);
  });
});
