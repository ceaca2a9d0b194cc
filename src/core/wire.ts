import * as v from 'valibot';
import { fromUtf8, utf8 } from './bytes.ts';
import { InvalidMessageError } from './errors.ts';

/**
 * The bus wire format, version 1: `[u8 version][u32 header length][header JSON][attachment]`.
 * The header is schema-checked on receipt; the attachment carries bulk bytes without JSON cost.
 */
export const WIRE_VERSION = 1;

const NODE_ID = /^[a-z2-7]{16}-[a-z2-7]{8}$/;
const TYPE = /^[a-z][a-z0-9.-]{0,39}$/;

/** `<device id: 16 base32>-<tab id: 8 base32>`: 25 characters, a valid PeerJS id. */
export const NodeIdSchema = v.pipe(v.string(), v.regex(NODE_ID));

export const EnvelopeSchema = v.strictObject({
  /** Unique per sender: `<from>/<seq>`; used for dedup and for replies. */
  id: v.pipe(v.string(), v.maxLength(80)),
  /** Message type, e.g. `gossip`, `vote.request`. */
  t: v.pipe(v.string(), v.regex(TYPE)),
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

const encoder = new TextEncoder();
const NON_ASCII = /[^\t-~]/; // anything but printable ASCII (JSON escapes the rest)

/**
 * Encodes a packet into one buffer of exactly its size (some channels send a view's whole
 * buffer). `headroom` bytes are left free in front (the framing layer writes its flag there
 * instead of copying the packet into a new frame).
 */
export function encodePacket(p: Packet, headroom = 0): Uint8Array {
  const json = JSON.stringify(p.env);
  const bin = p.bin && p.bin.length > 0 ? p.bin : undefined;
  const start = headroom + 5;
  // ASCII (the usual header) is one byte per character: encoded in place.
  const header = NON_ASCII.test(json) ? utf8(json) : undefined;
  const hlen = header ? header.length : json.length;
  const out = new Uint8Array(start + hlen + (bin?.length ?? 0));
  if (header) out.set(header, start);
  else encoder.encodeInto(json, out.subarray(start, start + hlen));
  // Big-endian u32 by hand: a DataView per packet costs about as much as the JSON.
  out[headroom] = WIRE_VERSION;
  out[headroom + 1] = hlen >>> 24;
  out[headroom + 2] = (hlen >>> 16) & 0xff;
  out[headroom + 3] = (hlen >>> 8) & 0xff;
  out[headroom + 4] = hlen & 0xff;
  if (bin) out.set(bin, start + hlen);
  return out;
}

/** Parses and validates a packet; throws `InvalidMessageError` saying what was wrong. */
export function decodePacket(bytes: Uint8Array): Packet {
  if (bytes.length < 5) throw new InvalidMessageError('shorter than the 5-byte prefix');
  if (bytes[0] !== WIRE_VERSION) {
    throw new InvalidMessageError(`wire version ${bytes[0]} is not supported (expected 1)`);
  }
  const hlen = ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0;
  if (hlen > bytes.length - 5) throw new InvalidMessageError('header length past the end');
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes.subarray(5, 5 + hlen)));
  } catch {
    throw new InvalidMessageError('header is not UTF-8 JSON');
  }
  const bin = bytes.length > 5 + hlen ? bytes.subarray(5 + hlen) : undefined;
  if (isEnvelope(json)) return { env: json, bin };
  // The schema says what is wrong (and stays the reference for what is accepted).
  const r = v.safeParse(EnvelopeSchema, json);
  if (!r.success) throw new InvalidMessageError(`header: ${describeIssues(r.issues)}`);
  return { env: r.output, bin };
}

const ENVELOPE_KEYS = new Set(['id', 't', 'f', 'to', 'ttl', 'q', 're', 'err', 'b']);

/**
 * `EnvelopeSchema`, checked by hand for JSON input: the bus's hot path (valibot costs ~20 µs
 * per message in a page). True only for headers the schema accepts as they are.
 */
export function isEnvelope(x: unknown): x is Envelope {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!ENVELOPE_KEYS.has(k)) return false;
  const { id, t, f, to, ttl, q, re, err } = o;
  if (typeof id !== 'string' || id.length > 80) return false;
  if (typeof t !== 'string' || !TYPE.test(t)) return false;
  if (typeof f !== 'string' || !NODE_ID.test(f)) return false;
  if (to !== '*' && (typeof to !== 'string' || !NODE_ID.test(to))) return false;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 8) return false;
  if (q !== undefined && q !== 1) return false;
  if (re !== undefined && (typeof re !== 'string' || re.length > 80)) return false;
  if (err === undefined) return true;
  if (typeof err !== 'object' || err === null || Array.isArray(err)) return false;
  const e = err as Record<string, unknown>;
  for (const k of Object.keys(e)) if (k !== 'code' && k !== 'message') return false;
  return (
    typeof e.code === 'string' &&
    e.code.length <= 64 &&
    typeof e.message === 'string' &&
    e.message.length <= 2000
  );
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
