import type { DataConnection, Peer, PeerOptions } from 'peerjs';
import { fingerprintOfSdp, type ChannelBinding } from '../core/channel-binding.ts';
import { ClosedError, WosError } from '../core/errors.ts';
import type { Channel, Transport, TransportStatus } from '../core/transport.ts';

/**
 * The real transport: PeerJS data channels (reliable, ordered, `raw` serialization: our own
 * framing and wire format go straight onto the RTCDataChannel). The same class runs in the
 * browser and in the Node agent (with @roamhq/wrtc globals installed).
 *
 * Reconnect: when the signaling socket drops, open channels keep working; we call
 * `peer.reconnect()` with backoff, reusing the same id and token so the server accepts it.
 */
export interface PeerJsTransportOptions {
  id: string;
  token: string;
  host: string;
  port: number;
  secure: boolean;
  path: string;
  key: string;
  iceServers: RTCIceServer[];
  dialTimeoutMs?: number;
  /** The PeerJS `Peer` class (injected so the agent can install Node globals first). */
  PeerClass: new (id: string, options: PeerOptions) => Peer;
}

/** WebRTC data channels refuse messages above 256 KiB in Chromium. */
const MAX_FRAME = 256 * 1024;
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

export class PeerJsTransport implements Transport {
  readonly id: string;
  readonly #peer: Peer;
  readonly #opts: PeerJsTransportOptions;
  onChannel: ((c: Channel) => void) | undefined;
  onStatus: ((s: TransportStatus) => void) | undefined;
  onGoodbye: ((from: string, payload: unknown) => void) | undefined;
  status: TransportStatus = 'connecting';
  #retry: ReturnType<typeof setTimeout> | undefined;
  #backoff = 250;
  readonly #channels = new Set<PeerJsChannel>();

  private constructor(opts: PeerJsTransportOptions) {
    this.id = opts.id;
    this.#opts = opts;
    this.#peer = new opts.PeerClass(opts.id, {
      host: opts.host,
      port: opts.port,
      secure: opts.secure,
      path: opts.path,
      key: opts.key,
      token: opts.token,
      config: { iceServers: opts.iceServers },
      debug: 0,
    } as PeerOptions);
    // Goodbyes travel as a PeerJS `CANDIDATE {dst, payload}` without a connection id, which the
    // server relays as it is and PeerJS itself ignores. (Not as `LEAVE`: on that PeerJS closes
    // every connection to the sender at once, which can cut a link a reply still needs.)
    this.#peer.socket.on('message', (m: { type?: unknown; src?: unknown; payload?: unknown }) => {
      if (m.type !== 'CANDIDATE' || typeof m.src !== 'string') return;
      const p = m.payload;
      if (typeof p === 'object' && p !== null && !('connectionId' in p)) this.onGoodbye?.(m.src, p);
    });
    this.#peer.on('open', () => {
      this.#backoff = 250;
      this.#setStatus('online');
    });
    this.#peer.on('disconnected', () => {
      if (this.status === 'closed') return;
      this.#setStatus('offline');
      this.#scheduleReconnect();
    });
    this.#peer.on('connection', (conn) => {
      void this.#whenOpen(conn, false, 30_000).then(
        (ch) => (this.onChannel ? this.onChannel(ch) : ch.close()),
        () => conn.close(),
      );
    });
    this.#peer.on('error', (err: Error & { type?: string }) => {
      // 'network' / 'server-error' / 'socket-error' mean the signaling server is away.
      if (['network', 'server-error', 'socket-error', 'socket-closed'].includes(err.type ?? '')) {
        if (this.status !== 'closed') {
          this.#setStatus('offline');
          this.#scheduleReconnect();
        }
      }
    });
  }

  /** Opens the signaling connection; resolves once the server has accepted our id. */
  static open(opts: PeerJsTransportOptions, signal?: AbortSignal): Promise<PeerJsTransport> {
    const t = new PeerJsTransport(opts);
    return new Promise((resolve, reject) => {
      const onOpen = (): void => {
        cleanup();
        resolve(t);
      };
      const onError = (err: Error & { type?: string }): void => {
        cleanup();
        t.close();
        reject(
          new WosError(
            err.type === 'unavailable-id' ? 'ID_TAKEN' : 'SIGNALING_FAILED',
            `could not reach the signaling server at ${opts.host}:${opts.port} (${err.type ?? err.message}); is it running?`,
          ),
        );
      };
      const onAbort = (): void => onError(new Error('aborted'));
      const cleanup = (): void => {
        t.#peer.off('open', onOpen);
        t.#peer.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      t.#peer.on('open', onOpen);
      t.#peer.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  dial(peerId: string, signal?: AbortSignal): Promise<Channel> {
    if (this.status === 'closed') return Promise.reject(new ClosedError('the transport'));
    const conn = this.#peer.connect(peerId, { reliable: true, serialization: 'raw' });
    if (!conn) return Promise.reject(new WosError('DIAL_FAILED', `cannot dial ${peerId} now`));
    return this.#whenOpen(conn, true, this.#opts.dialTimeoutMs ?? 15_000, signal);
  }

  /** Synchronous: each message is on the websocket (in the browser's network process) at once. */
  sendGoodbye(peers: readonly string[], payload: unknown): void {
    if (this.status !== 'online') return;
    for (const dst of peers) this.#peer.socket.send({ type: 'CANDIDATE', dst, payload });
  }

  close(): void {
    if (this.status === 'closed') return;
    clearTimeout(this.#retry);
    this.#setStatus('closed');
    for (const c of this.#channels) c.close();
    this.#peer.destroy();
  }

  #setStatus(s: TransportStatus): void {
    if (this.status === s || this.status === 'closed') return;
    this.status = s;
    this.onStatus?.(s);
  }

  #scheduleReconnect(): void {
    if (this.#retry !== undefined || this.status === 'closed') return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.status !== 'offline') return;
      this.#backoff = Math.min(this.#backoff * 2, 5000);
      try {
        if (this.#peer.disconnected && !this.#peer.destroyed) this.#peer.reconnect();
      } catch {
        // reconnect throws when the socket is mid-close; try again later
      }
      // If it does not come back, 'disconnected'/'error' fire again and we retry.
      setTimeout(() => {
        if (this.status === 'offline') this.#scheduleReconnect();
      }, 2000);
    }, this.#backoff);
  }

  #whenOpen(
    conn: DataConnection,
    initiator: boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Channel> {
    return new Promise((resolve, reject) => {
      // With @roamhq/wrtc, data can arrive before 'open' on the answering side: keep it.
      const early: Uint8Array[] = [];
      const onEarly = (d: unknown): void => {
        const b = toBytes(d);
        if (b) early.push(b);
      };
      conn.on('data', onEarly);
      const done = (err?: Error): void => {
        conn.off('data', onEarly);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        conn.off('open', onOpen);
        conn.off('error', onErr);
        this.#peer.off('error', onPeerErr);
        if (err) {
          conn.close();
          reject(err);
        }
      };
      const onOpen = (): void => {
        done();
        const ch = new PeerJsChannel(conn, initiator, early);
        this.#channels.add(ch);
        ch.onClosed = () => this.#channels.delete(ch);
        resolve(ch);
      };
      const onErr = (e: Error): void =>
        done(new WosError('DIAL_FAILED', `channel to ${conn.peer} failed: ${e.message}`));
      const onPeerErr = (e: Error & { type?: string }): void => {
        if (e.type === 'peer-unavailable' && e.message.includes(conn.peer)) {
          done(
            new WosError('PEER_UNAVAILABLE', `peer ${conn.peer} is not connected to the server`),
          );
        }
      };
      const onAbort = (): void => done(new WosError('ABORTED', `dial to ${conn.peer} aborted`));
      const timer = setTimeout(
        () =>
          done(new WosError('DIAL_TIMEOUT', `no channel to ${conn.peer} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.on('open', onOpen);
      conn.on('error', onErr);
      this.#peer.on('error', onPeerErr);
      if (conn.open) onOpen();
    });
  }
}

class PeerJsChannel implements Channel {
  readonly remoteId: string;
  readonly initiator: boolean;
  readonly maxFrameBytes = MAX_FRAME;
  readonly #binding: ChannelBinding | Error;
  readonly #conn: DataConnection;
  readonly #dc: RTCDataChannel;
  #onFrame: ((f: Uint8Array) => void) | undefined;
  readonly #early: Uint8Array[] = [];
  onClose: (() => void) | undefined;
  onClosed: (() => void) | undefined;
  #open = true;
  #waiters: (() => void)[] = [];
  #settling: Promise<void> | undefined = new Promise((r) => setTimeout(r, 0));
  #poll: ReturnType<typeof setInterval> | undefined;

  constructor(conn: DataConnection, initiator: boolean, early: Uint8Array[]) {
    this.#conn = conn;
    this.#dc = conn.dataChannel;
    // Now, while both descriptions are certainly set (PeerJS drops the connection on close).
    this.#binding = bindingOf(conn.peerConnection);
    this.remoteId = conn.peer;
    this.initiator = initiator;
    this.#dc.bufferedAmountLowThreshold = LOW_WATER;
    this.#dc.addEventListener('bufferedamountlow', () => this.#drain());
    this.#early.push(...early);
    const onData = (data: unknown): void => {
      const bytes = toBytes(data);
      if (!bytes) return; // strings or other types are not part of our protocol
      if (this.#onFrame) this.#onFrame(bytes);
      else this.#early.push(bytes);
    };
    // The hot path: PeerJS's 'raw' connection hands each message event to its own
    // `_handleDataMessage`, which re-emits it through an event emitter, and also keeps a no-op
    // logging `onmessage` on the channel. Frames go straight to us instead (one JS call per
    // message instead of three); the 'data' event is the fallback for any other PeerJS build.
    const raw = conn as unknown as { _handleDataMessage?: unknown };
    if (typeof raw._handleDataMessage === 'function') {
      raw._handleDataMessage = (e: MessageEvent) => onData(e.data);
      this.#dc.onmessage = null;
    } else conn.on('data', onData);
    conn.on('close', () => this.#closed());
    conn.on('error', () => this.#closed());
    this.#dc.addEventListener('close', () => this.#closed());
  }

  get open(): boolean {
    return this.#open;
  }

  /** From the connection's SDP (read at open: DTLS checked the peer's certificate against it). */
  get binding(): ChannelBinding {
    if (this.#binding instanceof Error) throw this.#binding;
    return this.#binding;
  }

  get onFrame(): ((f: Uint8Array) => void) | undefined {
    return this.#onFrame;
  }

  set onFrame(h: ((f: Uint8Array) => void) | undefined) {
    this.#onFrame = h;
    if (h) for (const f of this.#early.splice(0)) h(f);
  }

  async send(frame: Uint8Array): Promise<void> {
    if (this.#settling) {
      // Chromium can drop a message sent in the same task as 'open' toward a wrtc dialer:
      // the first sends wait for a fresh task.
      await this.#settling;
      this.#settling = undefined;
    }
    if (!this.#open || this.#dc.readyState !== 'open') {
      throw new ClosedError(`channel to ${this.remoteId}`);
    }
    this.#dc.send(frame as Uint8Array<ArrayBuffer>);
    if (this.#dc.bufferedAmount > HIGH_WATER) {
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        // @roamhq/wrtc never fires bufferedamountlow: poll as well.
        this.#poll ??= setInterval(() => this.#drain(), 5);
      });
    }
  }

  close(): void {
    if (!this.#open) return;
    this.#conn.close();
    this.#closed();
  }

  #drain(): void {
    if (this.#open && this.#dc.bufferedAmount > LOW_WATER) return;
    clearInterval(this.#poll);
    this.#poll = undefined;
    for (const w of this.#waiters.splice(0)) w();
  }

  #closed(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#drain();
    this.onClosed?.();
    this.onClose?.();
  }
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

function bindingOf(pc: RTCPeerConnection | null | undefined): ChannelBinding | Error {
  try {
    return {
      local: fingerprintOfSdp(pc?.localDescription?.sdp, 'local'),
      remote: fingerprintOfSdp(pc?.remoteDescription?.sdp, 'remote'),
    };
  } catch (e) {
    return e as Error;
  }
}
