import * as v from 'valibot';
import { NodeIdSchema } from '../wire.ts';
import { KernelIdSchema, KernelSpecSchema } from './kernel.ts';

/** Compute messages on the bus (version 1). Values are packed by value-codec.ts. */
export const LeaseRequestSchema = v.strictObject({
  kind: v.picklist(['cpu', 'gpu']),
  n: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4096)),
  ttlMs: v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(600_000)),
  exclude: v.optional(v.pipe(v.array(NodeIdSchema), v.maxLength(4096))),
});

export const SlotSchema = v.strictObject({
  node: NodeIdSchema,
  workers: v.pipe(v.number(), v.integer(), v.minValue(1)),
});

export const LeaseGrantSchema = v.strictObject({
  id: v.pipe(v.string(), v.maxLength(80)),
  slots: v.array(SlotSchema),
  ttlMs: v.number(),
});

export const LeaseIdSchema = v.strictObject({ id: v.pipe(v.string(), v.maxLength(80)) });

export const ReportSchema = v.strictObject({
  node: NodeIdSchema,
  outcome: v.picklist(['ok', 'failed', 'disagreed']),
});

export const RunSchema = v.strictObject({
  k: KernelIdSchema,
  timeoutMs: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3_600_000)),
  /** Packed array of inputs (one per task in this batch). */
  items: v.array(v.unknown()),
});

export const ItemResultSchema = v.union([
  v.strictObject({ ok: v.unknown() }),
  v.strictObject({
    err: v.strictObject({
      code: v.pipe(v.string(), v.maxLength(64)),
      message: v.pipe(v.string(), v.maxLength(4000)),
      stack: v.optional(v.pipe(v.string(), v.maxLength(8000))),
    }),
  }),
]);

export const RunResultSchema = v.strictObject({
  results: v.array(ItemResultSchema),
  /** Wall time of the whole request on the executing node, ms. */
  ms: v.number(),
  /** The fastest single task of the batch, ms: the task's own cost, without queueing. */
  itemMs: v.optional(v.number()),
});

export const KernelRequestSchema = v.strictObject({ k: KernelIdSchema });
export const KernelReplySchema = v.strictObject({ spec: KernelSpecSchema });

export type ItemResult = v.InferOutput<typeof ItemResultSchema>;
