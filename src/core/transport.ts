import type { ChannelBinding } from './channel-binding.ts';
/**
 * The node interface's transport: reliable, ordered byte channels between peers. Real
 * implementations wrap PeerJS data channels (browser and Node agent); tests use the in-memory
 * one. Every implementation passes the same contract suite (test/unit/transport-contract.ts).
 */
export interface Channel {
  /** Transport-level id of the remote peer. */
  readonly remoteId: string;
  /** True on the side that dialed. */
  readonly initiator: boolean;
  /**
   * The certificate fingerprints of this connection's encrypted session, as this end sees them
   * (channel-binding.ts); the link handshake signs them. May throw CHANNEL_BINDING_UNAVAILABLE.
   */
  readonly binding: ChannelBinding;
  /** Largest frame `send` accepts; larger messages are split by `FramedChannel`. */
  readonly maxFrameBytes: number;
  /**
   * Queues one frame. Resolves once the channel's buffer is below its high-water mark, so
   * awaiting every send gives backpressure. Rejects with `ClosedError` after close.
   */
  send(frame: Uint8Array): Promise<void>;
  close(): void;
  /** Frames that arrive before this is set are queued and delivered when it is. */
  onFrame: ((frame: Uint8Array) => void) | undefined;
  onClose: (() => void) | undefined;
  readonly open: boolean;
}

export type TransportStatus = 'connecting' | 'online' | 'offline' | 'closed';

export interface Transport {
  /** This endpoint's id as peers and the directory know it. */
  readonly id: string;
  /** Opens a channel to `peerId`. Rejects with a `WosError` when it cannot. */
  dial(peerId: string, signal?: AbortSignal): Promise<Channel>;
  /** Inbound channels. */
  onChannel: ((channel: Channel) => void) | undefined;
  /** Signaling status; open channels keep working while offline. */
  onStatus: ((status: TransportStatus) => void) | undefined;
  readonly status: TransportStatus;
  /**
   * Optional: hands `payload` to the signaling server for each of `peers` at once (synchronous,
   * best effort; a closing page has no time to wait), as a goodbye (goodbye.ts).
   */
  sendGoodbye?(peers: readonly string[], payload: unknown): void;
  /** A goodbye that came through the signaling server: unproven, check its payload. */
  onGoodbye?: ((from: string, payload: unknown) => void) | undefined;
  close(): void;
}

/** The mesh directory: which transport ids are in a mesh (known only by the mesh-key hash). */
export interface Directory {
  join(meshId: string, signal?: AbortSignal): Promise<string[]>;
  peers(meshId: string, signal?: AbortSignal): Promise<string[]>;
  leave(meshId: string): Promise<void>;
}
