/**
 * Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D) and generator 2,
 * the field of the `reed-solomon-erasure` crate (and of Backblaze's and klauspost's coders), so
 * that coefficients taken from its matrices mean the same here. Small and table-driven: it is
 * used for matrices and nibble tables, not for bulk data (see gf256-simd.ts).
 */
const EXP = new Uint8Array(510);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInverse(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return EXP[255 - LOG[a]!]!;
}

/**
 * The inverse of an r × r matrix (rows of bytes) by Gauss-Jordan elimination, or `undefined`
 * if it is singular (which a Reed-Solomon code's square submatrices never are).
 */
export function gfInvertMatrix(rows: readonly Uint8Array[]): Uint8Array[] | undefined {
  const r = rows.length;
  const a = rows.map((row, i) => {
    const ext = new Uint8Array(2 * r);
    ext.set(row.subarray(0, r));
    ext[r + i] = 1;
    return ext;
  });
  for (let col = 0; col < r; col++) {
    let pivot = col;
    while (pivot < r && a[pivot]![col] === 0) pivot++;
    if (pivot === r) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const p = a[col]!;
    const inv = gfInverse(p[col]!);
    for (let c = 0; c < 2 * r; c++) p[c] = gfMul(p[c]!, inv);
    for (let row = 0; row < r; row++) {
      const q = a[row]!;
      const f = q[col]!;
      if (row === col || f === 0) continue;
      for (let c = 0; c < 2 * r; c++) q[c]! ^= gfMul(f, p[c]!);
    }
  }
  return a.map((row) => row.slice(r));
}

/**
 * The 32-byte nibble tables of multiplication by `c`: `[c·x for x < 16] ‖ [c·(x << 4) for x < 16]`,
 * so c·b = low[b & 15] ^ high[b >> 4] (one SIMD byte shuffle each).
 */
export function nibbleTables(c: number, out: Uint8Array, at: number): void {
  for (let x = 0; x < 16; x++) {
    out[at + x] = gfMul(c, x);
    out[at + 16 + x] = gfMul(c, x << 4);
  }
}
