import { InvalidMessageError } from '../errors.ts';

/**
 * Task inputs and results travel as JSON plus one binary attachment: every ArrayBuffer or
 * typed array in the value is replaced by `{ $b: [type, offset, length] }` pointing into the
 * attachment, so bulk numbers never pass through JSON.
 */
const TYPES = {
  ArrayBuffer: 0,
  Uint8Array: 1,
  Int8Array: 1,
  Uint8ClampedArray: 1,
  Uint16Array: 2,
  Int16Array: 2,
  Uint32Array: 4,
  Int32Array: 4,
  Float32Array: 4,
  Float64Array: 8,
  BigInt64Array: 8,
  BigUint64Array: 8,
} as const;
type TypeName = keyof typeof TYPES;

type Ctor = new (buffer: ArrayBuffer, offset: number, length: number) => ArrayBufferView;
const CTORS: Record<Exclude<TypeName, 'ArrayBuffer'>, Ctor> = {
  Uint8Array,
  Int8Array,
  Uint8ClampedArray,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array: BigInt64Array as unknown as Ctor,
  BigUint64Array: BigUint64Array as unknown as Ctor,
};

export interface Packed {
  json: unknown;
  bin: Uint8Array | undefined;
}

export function packValue(value: unknown): Packed {
  const parts: Uint8Array[] = [];
  let size = 0;
  const walk = (x: unknown, depth: number): unknown => {
    if (depth > 64) throw new InvalidMessageError('value nested deeper than 64 levels');
    if (x === null || typeof x !== 'object') {
      if (typeof x === 'number' && !Number.isFinite(x)) return { $n: String(x) };
      if (typeof x === 'bigint' || typeof x === 'function' || typeof x === 'symbol') {
        throw new InvalidMessageError(`a ${typeof x} cannot be sent to another node`);
      }
      return x;
    }
    if (x instanceof ArrayBuffer || ArrayBuffer.isView(x)) {
      const name = (x instanceof ArrayBuffer ? 'ArrayBuffer' : x.constructor.name) as TypeName;
      if (!(name in TYPES)) throw new InvalidMessageError(`${name} cannot be sent`);
      const bytes =
        x instanceof ArrayBuffer
          ? new Uint8Array(x)
          : new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
      // Keep element alignment so the receiver can view the bytes without copying.
      const align = Math.max(1, TYPES[name]);
      const pad = (align - (size % align)) % align;
      if (pad) {
        parts.push(new Uint8Array(pad));
        size += pad;
      }
      const ref = { $b: [name, size, bytes.length] };
      parts.push(bytes);
      size += bytes.length;
      return ref;
    }
    if (Array.isArray(x)) return x.map((e) => walk(e, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(x)) {
      if (val !== undefined) out[k] = walk(val, depth + 1);
    }
    return out;
  };
  const json = walk(value, 0);
  if (parts.length === 0) return { json, bin: undefined };
  const bin = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    bin.set(p, o);
    o += p.length;
  }
  return { json, bin };
}

export function unpackValue(json: unknown, bin: Uint8Array | undefined): unknown {
  // Views need their own aligned buffer: copy the attachment once (when a value refers to it).
  let own: ArrayBuffer | undefined;
  const walk = (x: unknown, depth: number): unknown => {
    if (depth > 64) throw new InvalidMessageError('value nested deeper than 64 levels');
    if (x === null || typeof x !== 'object') return x;
    if (Array.isArray(x)) return x.map((e) => walk(e, depth + 1));
    const rec = x as Record<string, unknown>;
    if ('$n' in rec && Object.keys(rec).length === 1) {
      const n = Number(rec.$n);
      if (!Number.isNaN(n) || rec.$n === 'NaN') return n;
      throw new InvalidMessageError('bad number encoding');
    }
    if ('$b' in rec && Object.keys(rec).length === 1) {
      const ref = rec.$b;
      if (!Array.isArray(ref) || ref.length !== 3)
        throw new InvalidMessageError('bad binary reference');
      const [name, off, len] = ref as [unknown, unknown, unknown];
      if (typeof name !== 'string' || !(name in TYPES))
        throw new InvalidMessageError('bad binary type');
      if (
        !Number.isInteger(off) ||
        !Number.isInteger(len) ||
        (off as number) < 0 ||
        (len as number) < 0
      ) {
        throw new InvalidMessageError('bad binary range');
      }
      const o = off as number;
      const l = len as number;
      const buf = (own ??= bin ? bin.slice().buffer : new ArrayBuffer(0));
      if (o + l > buf.byteLength)
        throw new InvalidMessageError('binary reference past the attachment');
      if (name === 'ArrayBuffer') return buf.slice(o, o + l);
      const size = TYPES[name as TypeName];
      if (o % size !== 0 || l % size !== 0)
        throw new InvalidMessageError('misaligned binary reference');
      return new CTORS[name as Exclude<TypeName, 'ArrayBuffer'>](buf, o, l / size);
    }
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(rec)) out[k] = walk(val, depth + 1);
    return out;
  };
  return walk(json, 0);
}
