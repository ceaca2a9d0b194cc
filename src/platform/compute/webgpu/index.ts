/** WebGPU compute for a node: the executor, its errors and an inline (unsandboxed) fallback. */
export { inlineFallback } from './fallback-inline.ts';
export { BadInputError, GpuLostError, KernelLoadError, NoGpuError } from './gpu-errors.ts';
export {
  WebGpuExecutor,
  type FallbackRunner,
  type WebGpuExecutorOptions,
} from './webgpu-executor.ts';
export type { WgpuAdapterInfo } from './webgpu-types.ts';
