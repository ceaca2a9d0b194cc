import { createHash, timingSafeEqual } from 'node:crypto';
import * as v from 'valibot';

/**
 * Identifier rules shared by the HTTP API and the PeerJS websocket gate.
 *
 * - peer id: PeerJS's own rule (`util.validateId` of the peerjs client: alphanumeric words joined
 *   by single ` `, `_` or `-`), at most 64 characters. peer@1.0.2 itself checks nothing.
 * - token: URL-safe (`A-Z a-z 0-9 _ -`), 1–128 characters. The peerjs client puts the token in
 *   the websocket URL without encoding it, so anything else would not round-trip.
 * - mesh id: a SHA-256 in lowercase hex (the server only ever sees a hash of the mesh key).
 */
export const PEER_ID_MAX = 64;
export const PEER_ID_RE = /^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$/;
export const TOKEN_RE = /^[A-Za-z0-9_-]{1,128}$/;
export const MESH_ID_RE = /^[0-9a-f]{64}$/;

export const PeerIdSchema = v.pipe(
  v.string('peerId must be a string'),
  v.maxLength(PEER_ID_MAX, `peerId must be at most ${PEER_ID_MAX} characters`),
  v.regex(PEER_ID_RE, 'peerId must follow PeerJS id rules (letters, digits, single " _-" joins)'),
);

export const TokenSchema = v.pipe(
  v.string('token must be a string'),
  v.regex(TOKEN_RE, 'token must be 1-128 characters of A-Z a-z 0-9 _ -'),
);

export const MeshIdSchema = v.pipe(
  v.string('meshId must be a string'),
  v.regex(MESH_ID_RE, 'meshId must be 64 lowercase hex characters (a SHA-256)'),
);

export function isPeerId(s: unknown): s is string {
  return typeof s === 'string' && s.length <= PEER_ID_MAX && PEER_ID_RE.test(s);
}

export function isToken(s: unknown): s is string {
  return typeof s === 'string' && TOKEN_RE.test(s);
}

export function isMeshId(s: unknown): s is string {
  return typeof s === 'string' && MESH_ID_RE.test(s);
}

/** Constant-time token comparison (digests have equal length whatever the inputs). */
export function tokensEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Joins valibot issues into one readable sentence. */
export function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path?.map((p) => String(p.key)).join('.');
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join('; ');
}
