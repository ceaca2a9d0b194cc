import { WosError } from '../../../core/errors.ts';

/**
 * The WebGPU executor's errors. Beside the `Executor` codes it raises `BAD_INPUT` (the input
 * does not fit the kernel's bindings) and `GPU_LOST` (the device went away mid-run: retryable).
 */
export class KernelLoadError extends WosError {
  constructor(kernelId: string, detail: string) {
    super('KERNEL_LOAD_FAILED', `WGSL kernel ${kernelId.slice(0, 14)}… failed to load: ${detail}`);
  }
}

/** The input does not fit the kernel's bindings. */
export class BadInputError extends WosError {
  constructor(message: string) {
    super('BAD_INPUT', message);
  }
}

/** No WebGPU adapter here, and the kernel cannot run without one. */
export class NoGpuError extends WosError {
  constructor(message: string) {
    super('NO_GPU', message);
  }
}

/** The GPU device went away (driver reset, GPU process crash) while the kernel ran. */
export class GpuLostError extends WosError {
  constructor(reason: string) {
    super(
      'GPU_LOST',
      `the GPU device was lost while the kernel ran (${reason}); a new device is made on the next run, so retry`,
    );
  }
}
