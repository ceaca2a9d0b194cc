import * as v from 'valibot';
import { concatBytes, fromUtf8, utf8 } from './bytes.ts';
import { InvalidMessageError } from './errors.ts';

/**
 * The bus wire format, version 1: `[u8 version][u32 header length][header JSON][attachment]`.
 * The header is schema-checked on receipt; the attachment carries bulk bytes without JSON cost.
 */
export const WIRE_VERSION = 1;

/** `<device id: 16 base32>-<tab id: 8 base32>`: 25 characters, a valid PeerJS id. */
export const NodeIdSchema = v.pipe(v.string(), v.regex(/^[a-z2-7]{16}-[a-z2-7]{8}$/));

export const EnvelopeSchema = v.strictObject({
  /** Unique per sender: `<from>/<seq>`; used for dedup and for replies. */
  id: v.pipe(v.string(), v.maxLength(80)),
  /** Message type, e.g. `gossip`, `vote.request`. */
  t: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9.-]{0,39}$/)),
  f: NodeIdSchema,
  /** Target node id or `*` for neighbours. */
  to: v.union([NodeIdSchema, v.literal('*')]),
  /** Remaining relay hops. */
  ttl: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(8)),
  /** Set on requests that expect a response. */
  q: v.optional(v.literal(1)),
  /** Set on responses: the request id this answers. */
  re: v.optional(v.pipe(v.string(), v.maxLength(80))),
  /** Set on error responses. */
  err: v.optional(
    v.strictObject({
      code: v.pipe(v.string(), v.maxLength(64)),
      message: v.pipe(v.string(), v.maxLength(2000)),
    }),
  ),
  b: v.optional(v.unknown()),
});

export type Envelope = v.InferOutput<typeof EnvelopeSchema>;

export interface Packet {
  env: Envelope;
  bin?: Uint8Array | undefined;
}

export function encodePacket(p: Packet): Uint8Array {
  const header = utf8(JSON.stringify(p.env));
  const pre = new Uint8Array(5);
  pre[0] = WIRE_VERSION;
  new DataView(pre.buffer).setUint32(1, header.length);
  return p.bin && p.bin.length > 0 ? concatBytes(pre, header, p.bin) : concatBytes(pre, header);
}

/** Parses and validates a packet; throws `InvalidMessageError` saying what was wrong. */
export function decodePacket(bytes: Uint8Array): Packet {
  if (bytes.length < 5) throw new InvalidMessageError('shorter than the 5-byte prefix');
  if (bytes[0] !== WIRE_VERSION) {
    throw new InvalidMessageError(`wire version ${bytes[0]} is not supported (expected 1)`);
  }
  const hlen = new DataView(bytes.buffer, bytes.byteOffset).getUint32(1);
  if (hlen > bytes.length - 5) throw new InvalidMessageError('header length past the end');
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes.subarray(5, 5 + hlen)));
  } catch {
    throw new InvalidMessageError('header is not UTF-8 JSON');
  }
  const r = v.safeParse(EnvelopeSchema, json);
  if (!r.success) throw new InvalidMessageError(`header: ${describeIssues(r.issues)}`);
  const bin = bytes.length > 5 + hlen ? bytes.subarray(5 + hlen) : undefined;
  return { env: r.output, bin };
}

export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path?.map((p) => String(p.key)).join('.');
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}
