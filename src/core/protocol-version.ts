import { HandshakeError } from './errors.ts';

/**
 * The WOS protocol version, negotiated in the link handshake (link.ts): each `hello` carries
 * the range its build speaks, `v` (highest) and `vmin` (lowest it still accepts; absent: `v`).
 * Two nodes link only when their ranges overlap, and then speak the highest common version
 * (`LinkPeer.protocol`). Disjoint ranges end the handshake with PROTOCOL_MISMATCH on both
 * sides, naming which side runs the older build, instead of some obscure failure later.
 *
 * Bump PROTOCOL_VERSION whenever a build changes what crosses a link in a way an older build
 * would misread or refuse: a handshake message or field it requires, a bus message type removed
 * or renamed, a message body an older schema rejects, a different meaning for the same bytes,
 * the packet/frame format. A purely additive change that older builds ignore (a new message type
 * only sent to peers whose `protocol` is high enough, an optional field older schemas accept)
 * may keep the version, or bump it while keeping MIN_PROTOCOL_VERSION so old and new still link.
 * Raise MIN_PROTOCOL_VERSION to the oldest version this build still talks to correctly.
 *
 * Versions:
 * 1. Every build before versioning: hello `{v: 1, …}` with a strict schema, so it refuses any
 *    hello declaring another version. Such builds disagree even among themselves (the admit
 *    step, `hello.claim` and `acct.grants` came unversioned): not accepted any more.
 * 2. The hello declares its range (`v`, `vmin`) and unknown hello fields are ignored; a refusal
 *    reads PROTOCOL_MISMATCH.
 * 3. The handshake's signature also covers both hellos' version ranges and both ends' DTLS
 *    certificate fingerprints (channel binding, channel-binding.ts); `auth` carries the signer's
 *    view of the fingerprints (`fp`). A version-2 signature does not verify here, so 2 is no
 *    longer accepted: an older tab is told to reload.
 *
 * Frozen forever, so that any two builds can at least tell each other they do not match: the
 * packet format of `hello` and `reject`, the `v`/`vmin` fields of `hello`, `reject {code,
 * message}`, and the code PROTOCOL_MISMATCH.
 */
export const PROTOCOL_VERSION = 3;
export const MIN_PROTOCOL_VERSION = 3;

export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

export const OUR_PROTOCOL: VersionRange = { min: MIN_PROTOCOL_VERSION, max: PROTOCOL_VERSION };

/** Largest version number a hello may declare (keeps messages and arithmetic sane). */
const MAX_DECLARABLE = 65_535;

/** The hello fields that declare `range` (what this node sends). */
export function helloVersionFields(range: VersionRange): { v: number; vmin: number } {
  return { v: range.max, vmin: range.min };
}

const isVersion = (x: unknown): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= MAX_DECLARABLE;

/**
 * The range a peer's hello declares. Read before the rest of the hello is validated, since a
 * newer build's hello may not match this build's schema at all. A hello without `vmin` (every
 * version-1 build) speaks exactly `v`.
 */
export function readHelloVersion(hello: unknown, peer: string): VersionRange {
  const o =
    typeof hello === 'object' && hello !== null && !Array.isArray(hello)
      ? (hello as Record<string, unknown>)
      : {};
  const max = o['v'];
  const min = o['vmin'] ?? max;
  if (!isVersion(max) || !isVersion(min) || min > max) {
    throw new ProtocolVersionMalformedError(peer, o['v'], o['vmin']);
  }
  return { min, max };
}

/** The highest version both ranges contain, or undefined when they are disjoint. */
export function negotiateVersion(ours: VersionRange, theirs: VersionRange): number | undefined {
  const best = Math.min(ours.max, theirs.max);
  return best >= Math.max(ours.min, theirs.min) ? best : undefined;
}

const show = (r: VersionRange): string =>
  r.min === r.max ? `version ${r.max}` : `versions ${r.min}–${r.max}`;

/**
 * A peer's protocol range does not overlap this node's. `outdated` says whose build is older:
 * `self` means this tab should reload (to pick up the new build), `peer` that the peer's should.
 */
export class ProtocolMismatchError extends HandshakeError {
  readonly outdated: 'self' | 'peer';
  constructor(
    readonly peer: string,
    readonly ours: VersionRange,
    readonly theirs: VersionRange,
    /** True when the peer's `reject` told us (rather than its hello). */
    readonly byPeer = false,
  ) {
    const outdated = ours.max < theirs.min ? 'self' : 'peer';
    super(
      'PROTOCOL_MISMATCH',
      outdated === 'self'
        ? `this node runs an older WOS (protocol ${show(ours)}) than node ${peer} ` +
            `(${show(theirs)}); they cannot link: reload this tab (or restart this agent) ` +
            'to update WOS'
        : `node ${peer} runs an older WOS (protocol ${show(theirs)}) than this node ` +
            `(${show(ours)}); they cannot link: reload that tab (or restart that agent) ` +
            'to update WOS',
    );
    this.outdated = outdated;
  }
}

/**
 * The message of the `reject` this node sends a mismatched peer, written for the peer's side
 * (`self` there is the peer), so an older build that only shows the text still says what to do.
 */
export function mismatchMessageForPeer(self: string, ours: VersionRange, theirs: VersionRange) {
  return new ProtocolMismatchError(self, theirs, ours).message;
}

/** A hello's `v`/`vmin` are not version numbers: a broken or hostile peer, not an old build. */
export class ProtocolVersionMalformedError extends HandshakeError {
  constructor(peer: string, v: unknown, vmin: unknown) {
    const shown = (x: unknown): string => JSON.stringify(x)?.slice(0, 40) ?? 'undefined';
    super(
      'PROTOCOL_VERSION_MALFORMED',
      `node ${peer.slice(0, 80)} sent a hello with a malformed protocol version ` +
        `(v: ${shown(v)}, vmin: ${shown(vmin)}); expected integers 1 ≤ vmin ≤ v ≤ ` +
        `${MAX_DECLARABLE}: that node runs a broken or foreign build and was not linked`,
    );
  }
}
