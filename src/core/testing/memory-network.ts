import type { ChannelBinding } from '../channel-binding.ts';
import type { Clock } from '../clock.ts';
import { ClosedError, WosError } from '../errors.ts';
import type { Channel, Directory, Transport, TransportStatus } from '../transport.ts';

/**
 * An in-memory network for tests: transports that open reliable ordered channels with
 * latency and jitter, crashes (the far end notices only after `crashCloseMs`, as with WebRTC),
 * partitions (frames across the cut are lost and channels close after `partitionCloseMs`) and
 * a directory that forgets a transport when it closes or crashes.
 */
export interface MemoryNetworkOptions {
  latencyMs: number;
  jitterMs: number;
  maxFrameBytes: number;
  crashCloseMs: number;
  partitionCloseMs: number;
  random: () => number;
}

/**
 * Connections dialed in this process: numbers each one's simulated certificates (process-wide,
 * so that two networks in one test never share one; fixed width, so that a binding's length,
 * and with it every frame's, does not depend on what ran before).
 */
let connections = 0;

export class MemoryNetwork {
  readonly clock: Clock;
  readonly opts: MemoryNetworkOptions;
  readonly #transports = new Map<string, MemoryTransport>();
  readonly #meshes = new Map<string, Set<string>>();
  #groupOf = new Map<string, number>();
  readonly #cuts = new Set<string>();
  framesDelivered = 0;

  constructor(clock: Clock, opts: Partial<MemoryNetworkOptions> = {}) {
    this.clock = clock;
    this.opts = {
      latencyMs: 1,
      jitterMs: 0,
      maxFrameBytes: 256 * 1024,
      crashCloseMs: 5000,
      partitionCloseMs: 8000,
      random: Math.random,
      ...opts,
    };
  }

  transport(id: string): MemoryTransport {
    if (this.#transports.has(id)) throw new WosError('ID_TAKEN', `transport id ${id} is taken`);
    const t = new MemoryTransport(this, id);
    this.#transports.set(id, t);
    return t;
  }

  directory(id: string): Directory {
    return {
      join: async (meshId) => {
        if (!this.#transports.get(id)?.alive) throw new WosError('OFFLINE', 'not connected');
        const set = this.#meshes.get(meshId) ?? new Set<string>();
        this.#meshes.set(meshId, set);
        set.add(id);
        return [...set].filter((p) => p !== id && this.#transports.get(p)?.alive);
      },
      peers: async (meshId) => [...(this.#meshes.get(meshId) ?? [])].filter((p) => p !== id),
      leave: async (meshId) => {
        this.#meshes.get(meshId)?.delete(id);
      },
    };
  }

  /** Splits the network: transports in different groups cannot reach each other. */
  partition(groups: string[][]): void {
    this.#groupOf = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.#groupOf.set(id, i)));
    for (const t of this.#transports.values()) t._partitionChanged();
  }

  /** Cuts the path between two transports only. */
  cut(a: string, b: string): void {
    this.#cuts.add(a < b ? `${a}|${b}` : `${b}|${a}`);
    this.get(a)?._partitionChanged();
    this.get(b)?._partitionChanged();
  }

  heal(): void {
    this.#groupOf = new Map();
    this.#cuts.clear();
  }

  connected(a: string, b: string): boolean {
    const ta = this.#transports.get(a);
    const tb = this.#transports.get(b);
    if (!ta?.alive || !tb?.alive) return false;
    if (this.#cuts.has(a < b ? `${a}|${b}` : `${b}|${a}`)) return false;
    return (this.#groupOf.get(a) ?? -1) === (this.#groupOf.get(b) ?? -1);
  }

  get(id: string): MemoryTransport | undefined {
    return this.#transports.get(id);
  }

  _forget(id: string): void {
    for (const set of this.#meshes.values()) set.delete(id);
  }

  _delay(): number {
    return this.opts.latencyMs + this.opts.random() * this.opts.jitterMs;
  }
}

export class MemoryTransport implements Transport {
  readonly id: string;
  readonly #net: MemoryNetwork;
  readonly channels = new Set<MemoryChannel>();
  onChannel: ((c: Channel) => void) | undefined;
  onStatus: ((s: TransportStatus) => void) | undefined;
  onGoodbye: ((from: string, payload: unknown) => void) | undefined;
  status: TransportStatus = 'online';
  alive = true;

  constructor(net: MemoryNetwork, id: string) {
    this.#net = net;
    this.id = id;
  }

  /** Through the simulated signaling server: a partition of the channels does not stop it. */
  sendGoodbye(peers: readonly string[], payload: unknown): void {
    if (!this.alive) return;
    const copy = JSON.stringify(payload);
    for (const id of peers) {
      const target = this.#net.get(id);
      this.#net.clock.setTimeout(() => {
        if (target?.alive) target.onGoodbye?.(this.id, JSON.parse(copy));
      }, this.#net.opts.latencyMs);
    }
  }

  async dial(peerId: string): Promise<Channel> {
    if (!this.alive) throw new ClosedError(`transport ${this.id}`);
    const remote = this.#net.get(peerId);
    await new Promise((r) =>
      this.#net.clock.setTimeout(() => r(undefined), this.#net._delay() * 2),
    );
    if (!remote?.alive || !this.#net.connected(this.id, peerId)) {
      throw new WosError('DIAL_FAILED', `could not open a channel to ${peerId}`);
    }
    const a = new MemoryChannel(this.#net, this.id, peerId, true);
    const b = new MemoryChannel(this.#net, peerId, this.id, false);
    // Each end of a connection has its own "certificate", as a DTLS session would.
    const n = String(++connections).padStart(10, '0');
    a.binding = { local: `mem ${n}:${this.id}`, remote: `mem ${n}:${peerId}` };
    b.binding = { local: a.binding.remote, remote: a.binding.local };
    a.peer = b;
    b.peer = a;
    this.channels.add(a);
    remote.channels.add(b);
    remote.onChannel?.(b);
    return a;
  }

  close(): void {
    if (!this.alive) return;
    for (const c of [...this.channels]) c.close();
    this.alive = false;
    this.status = 'closed';
    this.#net._forget(this.id);
  }

  /** Simulates a crashed tab: nothing more is sent or received; peers notice late. */
  crash(): void {
    this.alive = false;
    this.status = 'closed';
    this.#net._forget(this.id);
    for (const c of [...this.channels]) c._crash(this.#net.opts.crashCloseMs);
  }

  _partitionChanged(): void {
    for (const c of [...this.channels]) {
      if (!this.#net.connected(this.id, c.remoteId)) c._crash(this.#net.opts.partitionCloseMs);
    }
  }
}

export class MemoryChannel implements Channel {
  readonly remoteId: string;
  readonly localId: string;
  readonly initiator: boolean;
  readonly maxFrameBytes: number;
  /** Set by `dial` (a test may give a relay's channels their own). */
  binding: ChannelBinding = { local: '', remote: '' };
  readonly #net: MemoryNetwork;
  peer: MemoryChannel | undefined;
  onClose: (() => void) | undefined;
  open = true;
  #lastDelivery = 0;
  #onFrame: ((f: Uint8Array) => void) | undefined;
  readonly #early: Uint8Array[] = [];

  /** Frames that arrive before a handler is set wait for it (the Channel contract). */
  get onFrame(): ((f: Uint8Array) => void) | undefined {
    return this.#onFrame;
  }

  set onFrame(h: ((f: Uint8Array) => void) | undefined) {
    this.#onFrame = h;
    if (h) for (const f of this.#early.splice(0)) h(f);
  }

  _deliver(f: Uint8Array): void {
    if (this.#onFrame) this.#onFrame(f);
    else this.#early.push(f);
  }

  constructor(net: MemoryNetwork, localId: string, remoteId: string, initiator: boolean) {
    this.#net = net;
    this.localId = localId;
    this.remoteId = remoteId;
    this.initiator = initiator;
    this.maxFrameBytes = net.opts.maxFrameBytes;
  }

  async send(frame: Uint8Array): Promise<void> {
    if (!this.open) throw new ClosedError(`channel to ${this.remoteId}`);
    if (frame.length > this.maxFrameBytes) {
      throw new WosError(
        'FRAME_TOO_LARGE',
        `frame of ${frame.length} bytes over ${this.maxFrameBytes}`,
      );
    }
    const peer = this.peer;
    if (!peer || !this.#net.connected(this.localId, this.remoteId)) return; // lost in transit
    const copy = frame.slice();
    // Keep order: never deliver before the previous frame on this channel.
    const at = Math.max(this.#net.clock.now() + this.#net._delay(), this.#lastDelivery);
    this.#lastDelivery = at;
    this.#net.clock.setTimeout(() => {
      if (!peer.open || !this.#net.connected(this.localId, this.remoteId)) return;
      this.#net.framesDelivered++;
      peer._deliver(copy);
    }, at - this.#net.clock.now());
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.#net.get(this.localId)?.channels.delete(this);
    const peer = this.peer;
    this.onClose?.();
    if (peer?.open) this.#net.clock.setTimeout(() => peer.close(), this.#net._delay());
  }

  _crash(afterMs: number): void {
    const peer = this.peer;
    this.open = false;
    this.#net.get(this.localId)?.channels.delete(this);
    if (this.#net.get(this.localId)?.alive) this.onClose?.();
    if (peer?.open) this.#net.clock.setTimeout(() => peer.close(), afterMs);
  }
}
