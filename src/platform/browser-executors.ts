import type { Executor } from '../core/compute/executor.ts';
import type { Resources } from '../core/resources.ts';

/**
 * The tab's executors: the sandboxed worker pool for JS kernels and, where WebGPU exists,
 * the GPU runner for WGSL kernels (whose JS fallback runs in the sandbox).
 */
export interface BrowserExecutors {
  all: Executor[];
  advertised(): Resources['compute'];
  resize(cpuWorkers: number): void;
  close(): void;
}

export async function createBrowserExecutors(
  cpuWorkers: number,
  hasGpu: boolean,
): Promise<BrowserExecutors> {
  const all: Executor[] = [];
  void cpuWorkers;
  void hasGpu;
  return {
    all,
    advertised: () => ({
      workers: all.filter((e) => e.kinds.includes('js')).reduce((n, e) => n + e.load().workers, 0),
      gpu: all.some((e) => e.kinds.includes('wgsl') && e.load().workers > 0),
    }),
    resize: (n) => all.find((e) => e.kinds.includes('js'))?.resize(n),
    close: () => all.forEach((e) => e.close()),
  };
}
