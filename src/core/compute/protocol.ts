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

/** Most tasks in one `cx.run` (what a requester batches, and what a node takes at once). */
export const MAX_RUN_ITEMS = 256;

export const RunSchema = v.strictObject({
  k: KernelIdSchema,
  timeoutMs: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3_600_000)),
  /** Packed array of inputs (one per task in this batch). */
  items: v.pipe(v.array(v.unknown()), v.minLength(1), v.maxLength(MAX_RUN_ITEMS)),
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
export type RunBody = v.InferOutput<typeof RunSchema>;
export type RunResult = v.InferOutput<typeof RunResultSchema>;

/*
 * Hand-written checks for the two messages of every task (`cx.run` and its reply), as the
 * bus does for envelopes (wire.ts `isEnvelope`): valibot costs tens of µs per message in a
 * page, on a round trip of well under a millisecond. Each returns true exactly when its schema
 * accepts the value as it is (test/unit/compute-protocol.test.ts); the schema stays the
 * reference and explains a rejection.
 */
const KERNEL_ID = /^k-[0-9a-f]{64}$/;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function onlyKeys(o: Record<string, unknown>, allowed: readonly string[]): boolean {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) return false;
  return true;
}

const isNumber = (x: unknown): x is number => typeof x === 'number' && !Number.isNaN(x);
const isShortString = (x: unknown, max: number): x is string =>
  typeof x === 'string' && x.length <= max;

const RUN_KEYS = ['k', 'timeoutMs', 'items'] as const;

/** `RunSchema`, checked by hand. */
export function isRunBody(x: unknown): x is RunBody {
  if (!isRecord(x) || !onlyKeys(x, RUN_KEYS)) return false;
  const { k, timeoutMs, items } = x;
  return (
    typeof k === 'string' &&
    KERNEL_ID.test(k) &&
    typeof timeoutMs === 'number' &&
    Number.isInteger(timeoutMs) &&
    timeoutMs >= 1 &&
    timeoutMs <= 3_600_000 &&
    Array.isArray(items) &&
    items.length >= 1 &&
    items.length <= MAX_RUN_ITEMS
  );
}

const RESULT_KEYS = ['results', 'ms', 'itemMs'] as const;
const ERR_KEYS = ['code', 'message', 'stack'] as const;

function isItemResult(x: unknown): x is ItemResult {
  if (!isRecord(x)) return false;
  const keys = Object.keys(x);
  if (keys.length !== 1) return false;
  if (keys[0] === 'ok') return true;
  if (keys[0] !== 'err') return false;
  const e = x.err;
  return (
    isRecord(e) &&
    onlyKeys(e, ERR_KEYS) &&
    isShortString(e.code, 64) &&
    isShortString(e.message, 4000) &&
    (e.stack === undefined || isShortString(e.stack, 8000))
  );
}

/** `RunResultSchema`, checked by hand. */
export function isRunResult(x: unknown): x is RunResult {
  if (!isRecord(x) || !onlyKeys(x, RESULT_KEYS)) return false;
  const { results, ms, itemMs } = x;
  if (!isNumber(ms) || (itemMs !== undefined && !isNumber(itemMs))) return false;
  if (!Array.isArray(results)) return false;
  for (const r of results) if (!isItemResult(r)) return false;
  return true;
}
