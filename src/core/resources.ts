import * as v from 'valibot';

/**
 * What a node advertises about itself. Probed by the platform layer (browser or agent) and kept
 * current; the coordinator's registry holds every member's latest copy.
 */
export const GpuInfoSchema = v.strictObject({
  vendor: v.pipe(v.string(), v.maxLength(100)),
  architecture: v.pipe(v.string(), v.maxLength(100)),
  description: v.optional(v.pipe(v.string(), v.maxLength(200))),
  limits: v.record(v.pipe(v.string(), v.maxLength(64)), v.number()),
});

const ms = v.pipe(v.number(), v.minValue(0), v.maxValue(600_000));

export const ResourcesSchema = v.strictObject({
  cores: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(4096)),
  /** GiB, as `navigator.deviceMemory` reports it (coarse) or the agent's total memory. */
  memoryGiB: v.nullable(v.pipe(v.number(), v.minValue(0))),
  gpu: v.nullable(GpuInfoSchema),
  storage: v.strictObject({
    quotaBytes: v.pipe(v.number(), v.minValue(0)),
    usageBytes: v.pipe(v.number(), v.minValue(0)),
    donatedBytes: v.pipe(v.number(), v.minValue(0)),
    persisted: v.boolean(),
  }),
  /** Median round-trip time to each peer this node has a link to, in ms. */
  rttMs: v.pipe(
    v.record(v.pipe(v.string(), v.maxLength(64)), ms),
    v.check((r) => Object.keys(r).length <= 1024),
  ),
  /** Measured data-channel throughput to peers in MB/s, where known. */
  throughputMBps: v.record(v.pipe(v.string(), v.maxLength(64)), v.pipe(v.number(), v.minValue(0))),
  /** What this node donates to compute: worker slots and whether it runs WGSL on a GPU. */
  compute: v.strictObject({
    workers: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1024)),
    gpu: v.boolean(),
  }),
  visibility: v.picklist(['visible', 'hidden', 'headless']),
  platform: v.pipe(v.string(), v.maxLength(200)),
});

export type Resources = v.InferOutput<typeof ResourcesSchema>;
export type GpuInfo = v.InferOutput<typeof GpuInfoSchema>;

export function emptyResources(): Resources {
  return {
    cores: 0,
    memoryGiB: null,
    gpu: null,
    storage: { quotaBytes: 0, usageBytes: 0, donatedBytes: 0, persisted: false },
    rttMs: {},
    throughputMBps: {},
    compute: { workers: 0, gpu: false },
    visibility: 'headless',
    platform: 'unknown',
  };
}
