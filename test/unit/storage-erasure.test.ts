import { readFile } from 'node:fs/promises';
import { bytesEqual } from '../../src/core/bytes.ts';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { type ErasureCoder } from '../../src/core/storage/erasure.ts';
import {
  chooseRedundancy,
  checkRedundancy,
  meetsDefaultBar,
} from '../../src/core/storage/redundancy.ts';
import { compileRsWasm, RsWasm } from '../../src/core/storage/rs-wasm.ts';
import { CoderParamsError, NotEnoughShardsError } from '../../src/core/storage/storage-errors.ts';
import { joinStripe, splitStripe } from '../../src/core/storage/stripe.ts';
import { createNodeErasureCoder, rsWasmPath } from '../../src/platform/storage/rs-wasm-node.ts';

// An independent GF(2^8) Reed-Solomon (the Backblaze construction the wasm's Rust crate uses:
// polynomial 0x11d, Vandermonde matrix times the inverse of its top k rows), to check parity.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++, x = x & 0x80 ? ((x << 1) ^ 0x11d) & 0xff : x << 1) {
  EXP[i] = EXP[i + 255] = x;
  LOG[x] = i;
}
const mul = (a: number, b: number): number => (a && b ? EXP[LOG[a]! + LOG[b]!]! : 0);
const pow = (a: number, e: number): number =>
  e === 0 ? 1 : a === 0 ? 0 : EXP[(LOG[a]! * e) % 255]!;
const inv = (a: number): number => EXP[255 - LOG[a]!]!;

function invert(mat: number[][]): number[][] {
  const k = mat.length;
  const a = mat.map((row, i) => [...row, ...row.map((_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < k; c++) {
    const p = a.findIndex((row, r) => r >= c && row[c] !== 0);
    [a[c], a[p]] = [a[p]!, a[c]!];
    const f = inv(a[c]![c]!);
    a[c] = a[c]!.map((v) => mul(v, f));
    for (let r = 0; r < k; r++) {
      const g = a[r]![c]!;
      if (r !== c && g) a[r] = a[r]!.map((v, j) => v ^ mul(g, a[c]![j]!));
    }
  }
  return a.map((row) => row.slice(k));
}

function referenceParity(data: Uint8Array[], m: number): Uint8Array[] {
  const k = data.length;
  const vander = (r: number): number[] => Array.from({ length: k }, (_, c) => pow(r, c));
  const topInv = invert(Array.from({ length: k }, (_, r) => vander(r)));
  return Array.from({ length: m }, (_, j) => {
    const row = vander(k + j);
    const coef = Array.from({ length: k }, (_, c) =>
      row.reduce((acc, v, i) => acc ^ mul(v, topInv[i]![c]!), 0),
    );
    const out = new Uint8Array(data[0]!.length);
    data.forEach((d, c) => d.forEach((b, x) => (out[x]! ^= mul(coef[c]!, b))));
    return out;
  });
}

function subsets(n: number, maxSize: number): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const s = [...Array(n).keys()].filter((i) => mask & (1 << i));
    if (s.length <= maxSize) out.push(s);
  }
  return out;
}

const bytes = seededBytes(seededRandom(42));
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

function stripeOf(k: number, m: number, size: number): Uint8Array[] {
  const data = Array.from({ length: k }, () => bytes(size));
  return [...data, ...coder.encode(data, m)];
}

describe('erasure coder: encoding', () => {
  it('matches the Backblaze (5,5) known vector', () => {
    const data = [
      [0, 1],
      [4, 5],
      [2, 3],
      [6, 7],
      [8, 9],
    ].map((d) => Uint8Array.from(d));
    const parity = coder.encode(data, 5).map((p) => [...p]);
    expect(parity).toEqual([
      [12, 13],
      [10, 11],
      [14, 15],
      [90, 91],
      [94, 95],
    ]);
  });

  it('matches an independent GF(2^8) implementation', () => {
    for (const [k, m, size] of [
      [1, 2, 5],
      [2, 2, 33],
      [4, 2, 64],
      [3, 5, 17],
      [10, 4, 100],
    ]) {
      const data = Array.from({ length: k! }, () => bytes(size!));
      expect(coder.encode(data, m!)).toEqual(referenceParity(data, m!));
    }
  });

  it('does not alias its inputs and returns separate buffers', () => {
    const data = [bytes(8), bytes(8)];
    const copy = data.map((d) => d.slice());
    const parity = coder.encode(data, 2);
    expect(data).toEqual(copy);
    expect(parity[0]!.buffer).not.toBe(parity[1]!.buffer);
  });
});

describe('erasure coder: every erasure pattern', () => {
  for (const [k, n] of [
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
    [4, 7],
    [6, 9],
  ] as const) {
    it(`(${k},${n}) restores data and parity byte-exact for every ≤ ${n - k} losses`, () => {
      for (const size of [1, 7, 256]) {
        const full = stripeOf(k, n - k, size);
        for (const lost of subsets(n, n - k)) {
          const got = coder.reconstruct(
            full.map((s, i) => (lost.includes(i) ? undefined : s.slice())),
            k,
            n - k,
          );
          expect(got).toHaveLength(n);
          const wrong = full.flatMap((x, i) => (bytesEqual(x, got[i]!) ? [] : [i]));
          expect(wrong, `lost ${lost} size ${size}`).toEqual([]);
        }
      }
    });

    it(`(${k},${n}) refuses every pattern of ${n - k + 1} losses with NOT_ENOUGH_SHARDS`, () => {
      const full = stripeOf(k, n - k, 3);
      for (const lost of subsets(n, n).filter((s) => s.length > n - k)) {
        const call = (): unknown =>
          coder.reconstruct(
            full.map((s, i) => (lost.includes(i) ? undefined : s)),
            k,
            n - k,
          );
        expect(call).toThrow(NotEnoughShardsError);
        expect(call).toThrow(expect.objectContaining({ code: 'NOT_ENOUGH_SHARDS' }));
      }
    });
  }

  it('one instance stays correct over many mixed reconstructions, parity-only losses included', async () => {
    await mixedRounds(coder, 1500);
    expect(coder.memoryBytes).toBeLessThanOrEqual(64 << 20);
  });

  it('stays correct when a memory cap keeps replacing the instance', async () => {
    const small = await createNodeErasureCoder({ maxMemoryBytes: 2 << 20 });
    await mixedRounds(small, 500);
    expect(small.memoryBytes).toBeLessThanOrEqual(2 << 20);
  });

  // Expected stripes come from a second, untouched instance (itself checked against the
  // independent implementation above).
  async function mixedRounds(c: ErasureCoder, rounds: number): Promise<void> {
    const reference = await createNodeErasureCoder();
    const rand = seededRandom(7);
    for (let round = 0; round < rounds; round++) {
      const k = 1 + Math.floor(rand() * 8);
      const m = 1 + Math.floor(rand() * 4);
      const size = 1 + Math.floor(rand() * 300);
      const data = Array.from({ length: k }, () => bytes(size));
      const full = [...data, ...reference.encode(data, m)];
      const lost = [...Array(k + m).keys()].filter(() => rand() < 0.3).slice(0, m);
      if (round % 3 === 0) lost.splice(0, lost.length, k + Math.floor(rand() * m)); // parity only
      const got = c.reconstruct(
        full.map((s, i) => (lost.includes(i) ? undefined : s)),
        k,
        m,
      );
      const wrong = full.flatMap((x, i) => (bytesEqual(x, got[i]!) ? [] : [i]));
      expect(wrong, `round ${round}: (${k},${m}) lost ${lost}`).toEqual([]);
    }
  }

  it('rebuilds a 4 MiB (4,6) stripe that lost two data shards', () => {
    const stripe = bytes(4 << 20);
    const data = splitStripe(stripe, 4);
    const full = [...data, ...coder.encode(data, 2)];
    const got = coder.reconstruct([undefined, full[1], undefined, full[3], full[4], full[5]], 4, 2);
    expect(bytesEqual(joinStripe(got.slice(0, 4), stripe.length), stripe)).toBe(true);
    got.forEach((shard, i) => expect(bytesEqual(shard, full[i]!), `shard ${i}`).toBe(true));
  });
});

describe('erasure coder: bad input', () => {
  const s = new Uint8Array(4);
  const bad: [string, () => unknown, RegExp][] = [
    ['k = 0', () => coder.encode([], 2), /k must be an integer ≥ 1, got 0/],
    ['m = 0', () => coder.encode([s], 0), /m must be an integer ≥ 1, got 0/],
    ['m < 0', () => coder.reconstruct([s], 2, -1), /m must be/],
    ['fractional k', () => coder.reconstruct([s, s, s], 1.5, 1), /k must be/],
    ['NaN m', () => coder.encode([s], NaN), /m must be/],
    ['k + m > 256', () => coder.encode(Array(200).fill(s), 57), /257 exceeds 256/],
    ['unequal shards', () => coder.encode([s, new Uint8Array(5)], 1), /shard 1 has 5 bytes/],
    ['empty shard', () => coder.encode([new Uint8Array(0)], 1), /shard 0 is empty/],
    ['wrong slot count', () => coder.reconstruct([s, s], 2, 1), /expected 3 shard slots/],
    ['not bytes', () => coder.encode([[1, 2] as unknown as Uint8Array], 1), /not a Uint8Array/],
    ['huge stripe', () => coder.encode([new Uint8Array(1 << 29)], 2), /exceed/],
  ];
  for (const [name, call, message] of bad) {
    it(`${name} → BAD_CODER_PARAMS`, () => {
      expect(call).toThrow(CoderParamsError);
      expect(call).toThrow(message);
      expect(call).toThrow(expect.objectContaining({ code: 'BAD_CODER_PARAMS' }));
    });
  }

  it('the coder still works after rejecting bad input', () => {
    const full = stripeOf(3, 2, 9);
    expect(coder.reconstruct([undefined, ...full.slice(1, 4), undefined], 3, 2)).toEqual(full);
  });

  it('a wasm trap discards the instance and the next call gets a fresh one', async () => {
    const module = await compileRsWasm(readFile(rsWasmPath()));
    const rs = new RsWasm(module, await WebAssembly.instantiate(module, {}), 1 << 30);
    // Unvalidated k = 0 makes the Rust side panic: the raw coder traps.
    expect(() => rs.withStripe(8, (st) => st.encode(0, 2))).toThrow(/CODER_FAILED|unreachable/);
    expect(() => rs.withStripe(8, (st) => st.encode(0, 2))).toThrow(
      expect.objectContaining({ code: 'CODER_FAILED' }),
    );
    const parity = rs.withStripe(4, (st) => {
      st.view().set([1, 2, 0, 0]);
      st.encode(2, 2);
      return st.view().slice(2);
    });
    expect([...parity]).toEqual(
      referenceParity([Uint8Array.of(1), Uint8Array.of(2)], 2).map((p) => p[0]),
    );
  });
});

describe('stripes and redundancy', () => {
  it('split pads with zeros and join trims back, for every length around the shard edges', () => {
    for (const k of [1, 2, 3, 4, 7]) {
      for (let len = 0; len <= 4 * k + 1; len++) {
        const stripe = bytes(len);
        const shards = splitStripe(stripe, k);
        expect(shards).toHaveLength(k);
        expect(new Set(shards.map((x) => x.length)).size).toBe(1);
        expect(joinStripe(shards, len)).toEqual(stripe);
      }
    }
  });

  it('join refuses lengths that do not fit the shards and non-zero padding', () => {
    const shards = splitStripe(Uint8Array.of(1, 2, 3, 4, 5), 2);
    expect(() => joinStripe(shards, 7)).toThrow(CoderParamsError);
    expect(() => joinStripe(shards, 2)).toThrow(/not cut into 2 shards/);
    shards[1]![2] = 9;
    expect(() => joinStripe(shards, 5)).toThrow(/non-zero padding/);
  });

  it('the default code meets the bar (any 2 losses, ≤ 3×) for every holder count', () => {
    const table = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 40].map((h) => {
      const { k, n } = chooseRedundancy(h);
      return `${h}:${k}/${n}`;
    });
    expect(table.join(' ')).toBe(
      '0:1/3 1:1/3 2:1/3 3:1/3 4:2/4 5:3/5 6:4/6 7:4/7 8:5/8 9:6/9 10:6/10 11:7/11 12:8/12 40:8/12',
    );
    for (let h = 0; h <= 300; h++) {
      const r = chooseRedundancy(h, 64);
      expect(meetsDefaultBar(r), `holders ${h}`).toBe(true);
      expect(r.n).toBe(Math.max(3, Math.min(h, 64)));
    }
  });

  it('per-file codes are validated', () => {
    expect(checkRedundancy({ k: 10, n: 14 })).toEqual({ k: 10, n: 14 });
    expect(() => checkRedundancy({ k: 3, n: 3 })).toThrow(CoderParamsError);
    expect(() => chooseRedundancy(-1)).toThrow(CoderParamsError);
    expect(meetsDefaultBar({ k: 3, n: 4 })).toBe(false);
  });
});
