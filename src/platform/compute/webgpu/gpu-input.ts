import type { WgslKernelSpec } from '../../../core/compute/kernel.ts';
import { BadInputError } from './gpu-errors.ts';

/**
 * The input convention of WGSL kernels: `input` is an object whose fields are typed arrays
 * (storage bindings, or uniforms) or numbers (uniforms), one per binding by name. The binding
 * named `out` is the result: `input[spec.size].length × (outScale ?? 1)` elements, zeroed.
 */
export type WgslElement = 'f32' | 'u32' | 'i32';
export type GpuArray = Float32Array | Uint32Array | Int32Array;
type Binding = WgslKernelSpec['bindings'][number];

export const ARRAY_OF = { f32: Float32Array, u32: Uint32Array, i32: Int32Array } as const;
const TAG_OF = { f32: 'Float32Array', u32: 'Uint32Array', i32: 'Int32Array' } as const;

export interface BufferInput {
  binding: Binding;
  /** Bytes to upload; uniforms are padded to a multiple of 16. */
  bytes: Uint8Array;
}

export interface PreparedInput {
  /** Invocations: the length of `input[spec.size]`. */
  n: number;
  out: Binding;
  outLength: number;
  buffers: BufferInput[];
}

export interface InputLimits {
  maxStorageBufferBindingSize: number;
  maxUniformBufferBindingSize: number;
}

/** Realm-independent type name (typed arrays from another realm or a postMessage). */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'Array';
  if (typeof v === 'object') return Object.prototype.toString.call(v).slice(8, -1);
  return typeof v;
}

const isTypedArray = (v: unknown): v is GpuArray =>
  ArrayBuffer.isView(v) && !(v instanceof DataView);

const bytesOf = (a: ArrayBufferView): Uint8Array =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function describe(b: Binding): string {
  const kind = b.type === 'uniform' ? 'uniform' : `${b.type} array<${b.element}>`;
  return `"${b.name}" (binding ${b.binding}, ${kind})`;
}

function uniformBytes(b: Binding, v: unknown): Uint8Array {
  let arr: GpuArray;
  if (typeof v === 'number') {
    const ok =
      b.element === 'f32'
        ? Number.isFinite(v)
        : Number.isInteger(v) &&
          (b.element === 'u32' ? v >= 0 && v <= 0xffff_ffff : v >= -(2 ** 31) && v < 2 ** 31);
    if (!ok) throw new BadInputError(`uniform ${describe(b)} cannot hold ${v}`);
    arr = ARRAY_OF[b.element].of(v);
  } else if (kindOf(v) === TAG_OF[b.element]) {
    arr = v as GpuArray;
  } else {
    throw new BadInputError(
      `uniform ${describe(b)} must be a number or a ${TAG_OF[b.element]}, got ${kindOf(v)}`,
    );
  }
  // Uniform buffers are laid out in 16-byte slots: pad so a vec4-aligned struct fits.
  const padded = new Uint8Array(Math.max(16, Math.ceil(arr.byteLength / 16) * 16));
  padded.set(bytesOf(arr));
  return padded;
}

/** Validates `input` against the kernel's bindings; throws `BadInputError` (`BAD_INPUT`). */
export function prepareInput(
  spec: WgslKernelSpec,
  input: unknown,
  limits?: InputLimits,
): PreparedInput {
  const names = spec.bindings.map((b) => b.name).join(', ');
  if (typeof input !== 'object' || input === null || Array.isArray(input) || isTypedArray(input)) {
    throw new BadInputError(
      `input must be an object of typed arrays keyed by binding name (${names}), got ${kindOf(input)}`,
    );
  }
  const fields = input as Record<string, unknown>;
  const out = spec.bindings.find((b) => b.name === 'out');
  if (!out) throw new BadInputError(`kernel has no binding named "out" for its result`);
  if (fields['out'] !== undefined) {
    throw new BadInputError('"out" is the result buffer: do not pass it in the input');
  }
  const sized = fields[spec.size];
  if (!isTypedArray(sized)) {
    throw new BadInputError(
      `input field "${spec.size}" decides the dispatch size and must be a typed array, got ${kindOf(sized)}`,
    );
  }
  const n = sized.length;
  const outLength = n * (spec.outScale ?? 1);
  if (!Number.isInteger(outLength)) {
    throw new BadInputError(
      `"${spec.size}".length ${n} × outScale ${spec.outScale} is not a whole number of elements`,
    );
  }
  const maxStorage = limits?.maxStorageBufferBindingSize ?? Infinity;
  if (outLength * 4 > maxStorage) {
    throw new BadInputError(`"out" needs ${outLength * 4} bytes, over this GPU's ${maxStorage}`);
  }
  const buffers: BufferInput[] = [];
  for (const b of spec.bindings) {
    if (b === out) continue;
    const v = fields[b.name];
    if (v === undefined) {
      throw new BadInputError(
        `missing input field ${describe(b)}: pass a ${b.type === 'uniform' ? 'number or ' : ''}${TAG_OF[b.element]}`,
      );
    }
    if (b.type === 'uniform') {
      const bytes = uniformBytes(b, v);
      const max = limits?.maxUniformBufferBindingSize ?? Infinity;
      if (bytes.byteLength > max) {
        throw new BadInputError(`uniform ${describe(b)} is ${bytes.byteLength} bytes, over ${max}`);
      }
      buffers.push({ binding: b, bytes });
      continue;
    }
    if (kindOf(v) !== TAG_OF[b.element]) {
      throw new BadInputError(
        `input field ${describe(b)} must be a ${TAG_OF[b.element]}, got ${kindOf(v)}`,
      );
    }
    const arr = v as GpuArray;
    if (arr.length === 0 && n > 0) {
      throw new BadInputError(`input field ${describe(b)} is empty; GPU buffers cannot be empty`);
    }
    if (arr.byteLength > maxStorage) {
      throw new BadInputError(
        `input field ${describe(b)} is ${arr.byteLength} bytes, over this GPU's ${maxStorage}`,
      );
    }
    buffers.push({ binding: b, bytes: bytesOf(arr) });
  }
  return { n, out, outLength, buffers };
}
