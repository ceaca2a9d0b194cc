import type { PeerClassLike } from '../start-node.ts';
import { installNodeWebRtcGlobals } from './webrtc-globals.ts';

/**
 * Loads the PeerJS client for Node: the WebRTC globals must exist before peerjs is evaluated
 * (it probes support once, at import), hence the dynamic import after installing them.
 */
export async function loadPeerJsForNode(): Promise<PeerClassLike> {
  installNodeWebRtcGlobals();
  const mod = (await import('peerjs')) as unknown as {
    Peer?: PeerClassLike;
    default?: { Peer?: PeerClassLike };
  };
  const Peer = mod.Peer ?? mod.default?.Peer;
  if (!Peer) throw new Error('peerjs did not export Peer');
  return Peer;
}
