import type { Kernel, WgslKernelSpec } from '../../../core/compute/kernel.ts';
import { AbortError, WosError } from '../../../core/errors.ts';
import { BadInputError, KernelLoadError } from './gpu-errors.ts';
import { ARRAY_OF, type GpuArray, type PreparedInput } from './gpu-input.ts';
import {
  BufferUsage,
  MAP_READ,
  SHADER_STAGE_COMPUTE,
  type WgpuAdapterInfo,
  type WgpuBindGroupLayout,
  type WgpuBuffer,
  type WgpuComputePipeline,
  type WgpuDevice,
  type WgpuLike,
  type WgpuLimits,
} from './webgpu-types.ts';

/** Limits raised from the WebGPU defaults to what the adapter offers. */
const RAISED_LIMITS: (keyof WgpuLimits)[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxStorageBuffersPerShaderStage',
];

/** Requests a fresh adapter and device (an adapter is consumed by its first device). */
export async function acquireDevice(
  gpu: WgpuLike,
  powerPreference?: 'low-power' | 'high-performance',
): Promise<{ device: WgpuDevice; info: WgpuAdapterInfo | undefined } | null> {
  const adapter = await gpu.requestAdapter(powerPreference ? { powerPreference } : undefined);
  if (!adapter) return null;
  const requiredLimits: Partial<Record<keyof WgpuLimits, number>> = {};
  for (const k of RAISED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({ label: 'wos-compute', requiredLimits });
  const { vendor, architecture, description, isFallbackAdapter } = adapter.info ?? {};
  const info = adapter.info && {
    vendor: vendor ?? '',
    architecture: architecture ?? '',
    description: description ?? '',
    isFallbackAdapter: isFallbackAdapter === true,
  };
  return { device, info };
}

/** Dawn's messages run on (overload candidates, validation chains): keep the first lines. */
const firstLines = (message: string, n: number): string =>
  message
    .trim()
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, n)
    .map((l) => l.trim().replace(/^- /, '').replace(/\.$/, ''))
    .join('; ');

export interface CompiledKernel {
  pipeline: WgpuComputePipeline;
  layout: WgpuBindGroupLayout;
}

/** What is wrong with the spec on this device, before any WGSL is compiled. */
function specProblem(spec: WgslKernelSpec, limits: WgpuLimits): string | undefined {
  const seen = new Set<number>();
  for (const b of spec.bindings) {
    if (seen.has(b.binding)) return `binding ${b.binding} is declared twice`;
    seen.add(b.binding);
  }
  if (new Set(spec.bindings.map((b) => b.name)).size !== spec.bindings.length) {
    return 'two bindings share a name';
  }
  const out = spec.bindings.find((b) => b.name === 'out');
  if (!out || out.type !== 'storage') {
    return 'it needs a read-write storage binding named "out" for its result';
  }
  if (spec.workgroupSize > limits.maxComputeInvocationsPerWorkgroup) {
    return `workgroupSize ${spec.workgroupSize} is over this GPU's limit of ${limits.maxComputeInvocationsPerWorkgroup}`;
  }
  // The dispatch count comes from `workgroupSize`: a shader with another size would silently
  // skip or repeat elements. Literal sizes are checked; override constants are trusted.
  const sizes = [...spec.source.matchAll(/@workgroup_size\s*\(([^)]*)\)/g)].map((m) =>
    m[1]!
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );
  if (sizes.length > 0 && sizes.every((s) => s.every((x) => /^\d+[iu]?$/.test(x)))) {
    const product = (s: string[]): number => s.reduce((p, x) => p * parseInt(x, 10), 1);
    if (!sizes.some((s) => product(s) === spec.workgroupSize)) {
      return `the shader's @workgroup_size(${sizes[0]!.join(', ')}) is not workgroupSize ${spec.workgroupSize}`;
    }
  }
  const storage = spec.bindings.filter((b) => b.type !== 'uniform').length;
  if (storage > limits.maxStorageBuffersPerShaderStage) {
    return `${storage} storage bindings, over this GPU's limit of ${limits.maxStorageBuffersPerShaderStage}`;
  }
  return undefined;
}

/**
 * Compiles the kernel against an explicit bind-group layout made from its `bindings`, so a
 * shader that disagrees with its declared bindings fails here, not at dispatch. WGSL errors
 * come back as `KERNEL_LOAD_FAILED` with line, column and the offending source line.
 */
export async function compileKernel(device: WgpuDevice, kernel: Kernel): Promise<CompiledKernel> {
  const spec = kernel.spec;
  if (spec.kind !== 'wgsl') throw new KernelLoadError(kernel.id, 'not a wgsl kernel');
  const problem = specProblem(spec, device.limits);
  if (problem) throw new KernelLoadError(kernel.id, problem);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: spec.source, label: kernel.id });
  const layout = device.createBindGroupLayout({
    entries: spec.bindings.map((b) => ({
      binding: b.binding,
      visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: b.type === 'storage-read' ? 'read-only-storage' : b.type },
    })),
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const scope = device.popErrorScope();
  const info = await module.getCompilationInfo();
  const scopeError = await scope;
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const lines = spec.source.split('\n');
    const detail = errors
      .slice(0, 3)
      .map((m) => {
        const src = lines[m.lineNum - 1]?.trim();
        return `line ${m.lineNum}:${m.linePos}: ${firstLines(m.message, 1)}${src ? ` (in \`${src.slice(0, 120)}\`)` : ''}`;
      })
      .join('; ');
    throw new KernelLoadError(kernel.id, `WGSL error: ${detail}`);
  }
  if (scopeError) throw new KernelLoadError(kernel.id, firstLines(scopeError.message, 2));
  try {
    const pipeline = await device.createComputePipelineAsync({
      label: kernel.id,
      layout: pipelineLayout,
      compute: { module, entryPoint: spec.entryPoint },
    });
    return { pipeline, layout };
  } catch (e) {
    throw new KernelLoadError(kernel.id, firstLines(e instanceof Error ? e.message : String(e), 2));
  }
}

/**
 * Workgroup counts for `n` invocations. Past `maxComputeWorkgroupsPerDimension` (65 535) the
 * dispatch goes 2D; shaders index with `gid.x + gid.y * nwg.x * WORKGROUP_SIZE` (`nwg` being
 * `@builtin(num_workgroups)`) and bounds-check, which also covers the plain 1D case.
 */
export function dispatchSize(
  n: number,
  workgroupSize: number,
  maxPerDim: number,
): [number, number] {
  const groups = Math.ceil(n / workgroupSize);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  if (y > maxPerDim) throw new BadInputError(`${n} invocations is more than one dispatch can run`);
  return [Math.ceil(groups / y), y];
}

/** Set once the work is on the GPU queue: from then on it cannot be taken back. */
export interface SubmitState {
  submitted: boolean;
  /** Set when the caller gave up (time limit, abort): the work is then never submitted. */
  cancelled: boolean;
}

/** Uploads the inputs, dispatches, copies `out` to a MAP_READ staging buffer and reads it. */
export async function dispatchKernel(
  device: WgpuDevice,
  compiled: CompiledKernel,
  spec: WgslKernelSpec,
  input: PreparedInput,
  state: SubmitState,
): Promise<GpuArray> {
  const made: WgpuBuffer[] = [];
  const buffer = (size: number, usage: number, mappedAtCreation = false): WgpuBuffer => {
    const b = device.createBuffer({ size: Math.ceil(size / 4) * 4, usage, mappedAtCreation });
    made.push(b);
    return b;
  };
  try {
    const [x, y] = dispatchSize(
      input.n,
      spec.workgroupSize,
      device.limits.maxComputeWorkgroupsPerDimension,
    );
    if (state.cancelled) throw new AbortError('the GPU kernel');
    const outBytes = input.outLength * 4;
    let staging: WgpuBuffer | undefined;
    let thrown: unknown;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    try {
      const entries = input.buffers.map(({ binding, bytes }) => {
        const usage = binding.type === 'uniform' ? BufferUsage.UNIFORM : BufferUsage.STORAGE;
        const b = buffer(bytes.byteLength, usage, true);
        new Uint8Array(b.getMappedRange()).set(bytes);
        b.unmap();
        return { binding: binding.binding, resource: { buffer: b } };
      });
      const out = buffer(outBytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
      staging = buffer(outBytes, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
      entries.push({ binding: input.out.binding, resource: { buffer: out } });
      const group = device.createBindGroup({ layout: compiled.layout, entries });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(compiled.pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, y);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, staging, 0, staging.size);
      device.queue.submit([encoder.finish()]);
      state.submitted = true;
    } catch (e) {
      thrown = e;
    }
    // Always pop both scopes, so a failed run never leaves the device's scope stack unbalanced.
    const invalid = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (invalid) {
      throw new BadInputError(`the input does not fit the kernel: ${invalid.message.trim()}`);
    }
    if (oom) throw new WosError('KERNEL_ERROR', `out of GPU memory: ${oom.message.trim()}`);
    if (thrown !== undefined || !staging) throw thrown;
    await staging.mapAsync(MAP_READ);
    const result = new ARRAY_OF[input.out.element](staging.getMappedRange().slice(0, outBytes));
    staging.unmap();
    return result;
  } finally {
    for (const b of made) b.destroy();
  }
}
