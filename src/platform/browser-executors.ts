import type { Executor } from '../core/compute/executor.ts';
import type { Resources } from '../core/resources.ts';
import { SandboxPool } from './compute/sandbox-pool.ts';
import { WebGpuExecutor } from './compute/webgpu/index.ts';

/**
 * The tab's executors: the sandboxed worker pool for JS kernels and, where WebGPU exists, the
 * GPU runner for WGSL kernels. (A WGSL kernel's JS fallback runs in the sandbox: the compute
 * node routes it there when this tab has no GPU.)
 */
export interface BrowserExecutors {
  all: Executor[];
  pool: SandboxPool;
  gpu: WebGpuExecutor | undefined;
  advertised(): Resources['compute'];
  resize(cpuWorkers: number): void;
  close(): void;
}

export async function createBrowserExecutors(
  cpuWorkers: number,
  hasGpu: boolean,
): Promise<BrowserExecutors> {
  const pool = new SandboxPool({ workers: Math.max(0, cpuWorkers) });
  await pool.ready;
  const gpu = hasGpu ? await WebGpuExecutor.create().catch(() => undefined) : undefined;
  const all: Executor[] = gpu ? [pool, gpu] : [pool];
  return {
    all,
    pool,
    gpu,
    advertised: () => ({ workers: pool.load().workers, gpu: (gpu?.load().workers ?? 0) > 0 }),
    resize: (n) => pool.resize(n),
    close: () => all.forEach((e) => e.close()),
  };
}
