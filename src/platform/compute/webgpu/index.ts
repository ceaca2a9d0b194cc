/** WebGPU compute for a node: the executor, its errors and an inline (unsandboxed) fallback. */
export { inlineFallback } from './fallback-inline.ts';
export { KernelLoadError } from './gpu-device.ts';
export { BadInputError } from './gpu-input.ts';
export {
  GpuLostError,
  NoGpuError,
  WebGpuExecutor,
  type FallbackRunner,
  type WebGpuExecutorOptions,
} from './webgpu-executor.ts';
