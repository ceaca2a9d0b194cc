import type { GpuInfo, Resources } from '../core/resources.ts';

/** Reads what this tab can donate: cores, memory, WebGPU adapter, storage, visibility. */
interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
  limits: Record<string, unknown>;
}

const GPU_LIMITS = [
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupsPerDimension',
];

export async function probeGpu(): Promise<GpuInfo | null> {
  const gpu = (
    navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }
  ).gpu;
  if (!gpu) return null;
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return null;
    const limits: Record<string, number> = {};
    for (const k of GPU_LIMITS) {
      const val = adapter.limits[k];
      if (typeof val === 'number') limits[k] = val;
    }
    const info: GpuInfo = {
      vendor: adapter.info?.vendor || 'unknown',
      architecture: adapter.info?.architecture || 'unknown',
      limits,
    };
    if (adapter.info?.description) info.description = adapter.info.description;
    return info;
  } catch {
    return null;
  }
}

export async function probeBrowser(
  donatedBytes: number,
  gpu: GpuInfo | null,
  compute: Resources['compute'],
): Promise<Omit<Resources, 'rttMs' | 'throughputMBps'>> {
  const est = await navigator.storage?.estimate?.().catch(() => undefined);
  const persisted = (await navigator.storage?.persisted?.().catch(() => false)) ?? false;
  const quota = est?.quota ?? 0;
  return {
    cores: navigator.hardwareConcurrency || 1,
    memoryGiB: (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? null,
    gpu,
    storage: {
      quotaBytes: quota,
      usageBytes: est?.usage ?? 0,
      donatedBytes: Math.min(donatedBytes, quota),
      persisted,
    },
    compute,
    visibility: document.visibilityState === 'hidden' ? 'hidden' : 'visible',
    platform: navigator.userAgent.slice(0, 200),
  };
}
