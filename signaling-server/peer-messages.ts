import * as v from 'valibot';
import { PeerIdSchema } from './ids.ts';
import type { RejectReason } from './metrics.ts';

/**
 * Validation of messages PeerJS clients send over the signaling websocket. Only what the
 * peerjs client actually sends is accepted: HEARTBEAT, and OFFER/ANSWER/CANDIDATE/LEAVE with a
 * valid `dst`. Server-to-client types (OPEN, EXPIRE, ID-TAKEN, ERROR) and anything else are
 * rejected. Accepted messages are re-serialized with only `type`, `dst` and `payload`, so the
 * PeerJS relay never sees client-supplied extra fields (it sets `src` itself).
 */
export const RELAY_TYPES = ['OFFER', 'ANSWER', 'CANDIDATE', 'LEAVE'] as const;
export const CLIENT_TYPES: ReadonlySet<string> = new Set(['HEARTBEAT', ...RELAY_TYPES]);

const RelaySchema = v.object({
  type: v.picklist(RELAY_TYPES),
  dst: PeerIdSchema,
  payload: v.optional(v.unknown()),
});

const HEARTBEAT_TEXT = '{"type":"HEARTBEAT"}';

export type ClientMessageVerdict =
  { ok: true; kind: 'heartbeat' | 'relay'; text: string } | { ok: false; reason: RejectReason };

export function checkClientMessage(data: unknown, isBinary: boolean): ClientMessageVerdict {
  if (isBinary) return { ok: false, reason: 'ws_binary' };
  let text: string;
  if (typeof data === 'string') text = data;
  else if (Buffer.isBuffer(data)) text = data.toString('utf8');
  else if (Array.isArray(data)) text = Buffer.concat(data as Buffer[]).toString('utf8');
  else if (data instanceof ArrayBuffer) text = Buffer.from(data).toString('utf8');
  else return { ok: false, reason: 'ws_bad_message' };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'ws_malformed_json' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, reason: 'ws_bad_message' };
  }
  const type = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !CLIENT_TYPES.has(type))
    return { ok: false, reason: 'ws_unknown_type' };
  if (type === 'HEARTBEAT') return { ok: true, kind: 'heartbeat', text: HEARTBEAT_TEXT };
  const r = v.safeParse(RelaySchema, json);
  if (!r.success) return { ok: false, reason: 'ws_bad_message' };
  const { type: t, dst, payload } = r.output;
  return { ok: true, kind: 'relay', text: JSON.stringify({ type: t, dst, payload }) };
}
