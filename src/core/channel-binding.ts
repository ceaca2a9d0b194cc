import { HandshakeError } from './errors.ts';

/**
 * What ties a link's handshake to the encrypted session it runs over (channel binding). A
 * WebRTC data channel is encrypted by DTLS between two certificates whose fingerprints the two
 * ends exchange through the signaling server in their SDP. A signaling server that swapped
 * those fingerprints could end both DTLS sessions itself and relay the handshake between them,
 * and every signature in it would still verify. So each end signs the two fingerprints as *it*
 * sees them (link.ts): through such a relay the two ends see different ones, and the
 * handshake fails with CHANNEL_INTERCEPTED instead of opening a link the relay can read.
 */
export interface ChannelBinding {
  /** This end's certificate fingerprint, e.g. `sha-256 ab:cd:…`. */
  readonly local: string;
  /** The remote end's, as this end's session negotiated it. */
  readonly remote: string;
}

const FINGERPRINT_RE = /^a=fingerprint:(\S+) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})+)\s*$/gm;

/**
 * The certificate fingerprint an SDP declares (`a=fingerprint:`), lower-cased with its hash
 * name. Exactly one distinct fingerprint is accepted, at session or media level (repeats of the
 * same one are fine): some DTLS stacks accept a certificate that matches *any* listed
 * fingerprint, so a relay could list its own beside the peer's, and signing only the first line
 * would not notice.
 */
export function fingerprintOfSdp(sdp: string | undefined, side: string): string {
  const found = new Set<string>();
  for (const m of (sdp ?? '').matchAll(FINGERPRINT_RE)) {
    found.add(`${m[1]!.toLowerCase()} ${m[2]!.toLowerCase()}`);
  }
  if (found.size !== 1) {
    throw new HandshakeError(
      'CHANNEL_BINDING_UNAVAILABLE',
      found.size === 0
        ? `the ${side} session description has no DTLS certificate fingerprint, so the link ` +
            'cannot be bound to its connection; this WebRTC implementation is not supported'
        : `the ${side} session description lists ${found.size} different DTLS certificate ` +
            'fingerprints, so which certificate the connection uses is not certain; the link ' +
            'was refused (something between the peers may have added one)',
    );
  }
  return [...found][0]!;
}

/** The link handshake through a relay: the two ends' connections are not the same session. */
export class ChannelInterceptedError extends HandshakeError {
  constructor(peer: string, ours: readonly string[], theirs: readonly string[]) {
    super(
      'CHANNEL_INTERCEPTED',
      `the connection to ${peer} looks relayed by a third party: this end's encrypted session ` +
        `has certificates ${ours.join(' / ')}, the peer says its session has ` +
        `${theirs.join(' / ')}. The signaling server or the network may be intercepting it, so ` +
        'the link was refused; try another signaling server or network',
    );
  }
}
