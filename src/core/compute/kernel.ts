import * as v from 'valibot';
import { toHex, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { sha256 } from '../identity.ts';

/**
 * A kernel is code that a node runs on request: ES-module source text whose default export
 * (or `run` export) takes one structured-clonable value and returns one (or a Promise of one),
 * or a WGSL compute shader with its bindings. Kernels are content-addressed: the id is the
 * SHA-256 of the canonical descriptor, so a node fetches each kernel once and can check it.
 */
export const WgslBindingSchema = v.strictObject({
  /** `@binding(n)` in `@group(0)`. */
  binding: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(15)),
  /** Input field name (input is an object of typed arrays) or `out` for the result. */
  name: v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/)),
  type: v.picklist(['storage-read', 'storage', 'uniform']),
  /** Element type of the typed array. */
  element: v.picklist(['f32', 'u32', 'i32']),
});

export const KernelSpecSchema = v.variant('kind', [
  v.strictObject({
    kind: v.literal('js'),
    source: v.pipe(v.string(), v.minLength(1), v.maxLength(1_000_000)),
  }),
  v.strictObject({
    kind: v.literal('wgsl'),
    source: v.pipe(v.string(), v.minLength(1), v.maxLength(1_000_000)),
    entryPoint: v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)),
    workgroupSize: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)),
    bindings: v.pipe(v.array(WgslBindingSchema), v.minLength(1), v.maxLength(16)),
    /** Name of the input field whose length decides the dispatch size (one invocation each). */
    size: v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/)),
    /** Length of `out` as a multiple of `size`'s length (default 1). */
    outScale: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1024))),
    /** ES-module source used where no WebGPU adapter exists; same input and output. */
    fallback: v.optional(v.pipe(v.string(), v.maxLength(1_000_000))),
  }),
]);

export type KernelSpec = v.InferOutput<typeof KernelSpecSchema>;
export type WgslKernelSpec = Extract<KernelSpec, { kind: 'wgsl' }>;

export interface Kernel {
  /** `k-` + hex SHA-256 of the canonical spec. */
  readonly id: string;
  readonly spec: KernelSpec;
}

export const KernelIdSchema = v.pipe(v.string(), v.regex(/^k-[0-9a-f]{64}$/));

/** Stable JSON: keys sorted, so the same spec always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export async function kernelIdOf(subtle: SubtleCrypto, spec: KernelSpec): Promise<string> {
  return `k-${toHex(await sha256(subtle, utf8(canonicalJson(spec))))}`;
}

export async function makeKernel(subtle: SubtleCrypto, spec: unknown): Promise<Kernel> {
  const r = v.safeParse(
    KernelSpecSchema,
    typeof spec === 'string' ? { kind: 'js', source: spec } : spec,
  );
  if (!r.success) {
    throw new ArgumentError(
      `not a kernel: ${r.issues[0]?.message ?? 'invalid'}; pass ES-module source text or { kind: 'wgsl', source, entryPoint, workgroupSize, bindings, size }`,
    );
  }
  return { id: await kernelIdOf(subtle, r.output), spec: r.output };
}
