import { concatBytes, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';

/**
 * Deterministic bytes to sign. Every signed account object is encoded as
 *   UTF-8(label) ‖ 0x00 ‖ fields…
 * with fixed-size fields written as they are, integers big-endian (u8, u16, u32, u64 < 2^53)
 * and strings and variable-length bytes as u16 length ‖ bytes. The same object always gives the
 * same bytes, in any implementation that follows docs/ACCOUNTS.md.
 */
export class CanonicalWriter {
  private readonly parts: Uint8Array[] = [];

  constructor(label: string) {
    this.parts.push(utf8(label), Uint8Array.of(0));
  }

  fixed(b: Uint8Array, length: number): this {
    if (b.length !== length)
      throw new ArgumentError(`field must be ${length} bytes, got ${b.length}`);
    this.parts.push(b);
    return this;
  }

  bytes(b: Uint8Array): this {
    if (b.length > 0xffff) throw new ArgumentError('field longer than 65535 bytes');
    this.u16(b.length);
    this.parts.push(b);
    return this;
  }

  str(s: string): this {
    return this.bytes(utf8(s));
  }

  u8(n: number): this {
    return this.int(n, 1);
  }

  u16(n: number): this {
    return this.int(n, 2);
  }

  u32(n: number): this {
    return this.int(n, 4);
  }

  u64(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`u64 field out of range: ${n}`);
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    v.setUint32(0, Math.floor(n / 2 ** 32));
    v.setUint32(4, n >>> 0);
    this.parts.push(out);
    return this;
  }

  done(): Uint8Array {
    return concatBytes(...this.parts);
  }

  private int(n: number, size: number): this {
    if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** (8 * size)) {
      throw new ArgumentError(`u${8 * size} field out of range: ${n}`);
    }
    const out = new Uint8Array(size);
    for (let i = size - 1, x = n; i >= 0; i--, x = Math.floor(x / 256)) out[i] = x % 256;
    this.parts.push(out);
    return this;
  }
}
