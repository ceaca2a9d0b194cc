/**
 * The few WebGPU interfaces the executor uses. TypeScript 5.9's DOM lib does not carry WebGPU,
 * and `@webgpu/types` is not a dependency, so these are declared here (a structural subset of
 * the W3C IDL: the real objects satisfy them). Names carry a `Wgpu` prefix so they never clash
 * with the lib's partial `GPUError`.
 */
export type WgpuErrorFilter = 'validation' | 'out-of-memory' | 'internal';

export interface WgpuLimits {
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupSizeX: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxUniformBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface WgpuAdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  readonly isFallbackAdapter?: boolean;
}

export interface WgpuLike {
  requestAdapter(options?: {
    powerPreference?: 'low-power' | 'high-performance';
  }): Promise<WgpuAdapter | null>;
}

export interface WgpuAdapter {
  readonly limits: WgpuLimits;
  readonly info?: WgpuAdapterInfo;
  requestDevice(descriptor?: {
    label?: string;
    requiredLimits?: Partial<Record<keyof WgpuLimits, number>>;
  }): Promise<WgpuDevice>;
}

export interface WgpuDeviceLostInfo {
  readonly reason: 'unknown' | 'destroyed';
  readonly message: string;
}

export interface WgpuError {
  readonly message: string;
}

export interface WgpuCompilationMessage {
  readonly type: 'error' | 'warning' | 'info';
  readonly message: string;
  readonly lineNum: number;
  readonly linePos: number;
}

export interface WgpuShaderModule {
  getCompilationInfo(): Promise<{ readonly messages: readonly WgpuCompilationMessage[] }>;
}

export interface WgpuBuffer {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

/** Opaque handles: only passed back to the device. */
export interface WgpuBindGroupLayout {
  readonly __brand?: 'GPUBindGroupLayout';
}
export interface WgpuPipelineLayout {
  readonly __brand?: 'GPUPipelineLayout';
}
export interface WgpuBindGroup {
  readonly __brand?: 'GPUBindGroup';
}
export interface WgpuComputePipeline {
  readonly __brand?: 'GPUComputePipeline';
}
export interface WgpuCommandBuffer {
  readonly __brand?: 'GPUCommandBuffer';
}

export interface WgpuComputePass {
  setPipeline(pipeline: WgpuComputePipeline): void;
  setBindGroup(index: number, group: WgpuBindGroup): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface WgpuCommandEncoder {
  beginComputePass(): WgpuComputePass;
  copyBufferToBuffer(
    src: WgpuBuffer,
    srcOffset: number,
    dst: WgpuBuffer,
    dstOffset: number,
    size: number,
  ): void;
  finish(): WgpuCommandBuffer;
}

export interface WgpuQueue {
  submit(buffers: WgpuCommandBuffer[]): void;
  writeBuffer(buffer: WgpuBuffer, offset: number, data: ArrayBufferView): void;
  onSubmittedWorkDone(): Promise<void>;
}

export type WgpuBufferBindingType = 'uniform' | 'storage' | 'read-only-storage';

export interface WgpuDevice {
  readonly limits: WgpuLimits;
  readonly queue: WgpuQueue;
  readonly lost: Promise<WgpuDeviceLostInfo>;
  createShaderModule(descriptor: { code: string; label?: string }): WgpuShaderModule;
  createBindGroupLayout(descriptor: {
    entries: { binding: number; visibility: number; buffer: { type: WgpuBufferBindingType } }[];
  }): WgpuBindGroupLayout;
  createPipelineLayout(descriptor: { bindGroupLayouts: WgpuBindGroupLayout[] }): WgpuPipelineLayout;
  createComputePipelineAsync(descriptor: {
    label?: string;
    layout: WgpuPipelineLayout;
    compute: { module: WgpuShaderModule; entryPoint: string };
  }): Promise<WgpuComputePipeline>;
  createBuffer(descriptor: { size: number; usage: number; mappedAtCreation?: boolean }): WgpuBuffer;
  createBindGroup(descriptor: {
    layout: WgpuBindGroupLayout;
    entries: { binding: number; resource: { buffer: WgpuBuffer } }[];
  }): WgpuBindGroup;
  createCommandEncoder(): WgpuCommandEncoder;
  pushErrorScope(filter: WgpuErrorFilter): void;
  popErrorScope(): Promise<WgpuError | null>;
  destroy(): void;
}

/** `GPUBufferUsage`, `GPUMapMode` and `GPUShaderStage` flags (fixed by the spec). */
export const BufferUsage = {
  MAP_READ: 0x1,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;
export const MAP_READ = 0x1;
export const SHADER_STAGE_COMPUTE = 0x4;

/** `navigator.gpu` of this realm (page or dedicated worker), if the browser exposes one. */
export function navigatorGpu(): WgpuLike | undefined {
  const nav = (globalThis as { navigator?: { gpu?: WgpuLike } }).navigator;
  return nav?.gpu ?? undefined;
}
