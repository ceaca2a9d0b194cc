import type { Admission } from './admission.ts';
import { Bus } from './bus.ts';
import { every, type Clock } from './clock.ts';
import { Election, type Term } from './election.ts';
import { Emitter } from './emitter.ts';
import { ArgumentError, WosError } from './errors.ts';
import { isGoodbyeFrom, signGoodbye, type Goodbye } from './goodbye.ts';
import { meshAuthKeyOf, meshIdOf, type DeviceIdentity } from './identity.ts';
import { establishLink, type Link, type LinkContext, type NodeKind } from './link.ts';
import { Membership, type MembershipOptions } from './membership.ts';
import { ProtocolMismatchError, type VersionRange } from './protocol-version.ts';
import { Registry } from './registry.ts';
import type { Resources } from './resources.ts';
import { RttTracker } from './rtt-tracker.ts';
import { serveThroughputProbe } from './throughput-probe.ts';
import type { Channel, Directory, Transport, TransportStatus } from './transport.ts';

/**
 * A node of a mesh: admits peers that prove the mesh key, keeps a direct link to every member
 * it can reach, and runs membership, election and the registry over the message bus.
 */
export interface NodeInfo {
  id: string;
  kind: NodeKind;
  self: boolean;
  /** `direct`: a data channel is open; `relayed`: reached through another member. */
  state: 'self' | 'direct' | 'relayed';
  coordinator: boolean;
  resources: Resources | undefined;
  /** Round-trip time from this node, ms. */
  rttMs: number | undefined;
}

export interface MeshNodeComponents {
  transport: Transport;
  directory: Directory;
  identity: DeviceIdentity;
  subtle: SubtleCrypto;
  random: (n: number) => Uint8Array;
  clock: Clock;
  /** Who may join once they proved the mesh key (admission.ts); default: all of them. */
  admission?: Admission;
}

export interface MeshNodeOptions {
  meshKey: string;
  kind: NodeKind;
  membership?: Partial<MembershipOptions>;
  /** Largest bus message, bytes. */
  maxMessageBytes?: number;
  handshakeTimeoutMs?: number;
  /** How often to re-join the directory and dial members we have no link to. */
  rediscoverMs?: number;
  pingMs?: number;
  /** Test hook: register under this directory id instead of the mesh key's (wrong-key tests). */
  directoryMeshId?: string;
  /** Test hook: speak these protocol versions instead of this build's (pose as another build). */
  protocol?: VersionRange;
}

/**
 * A peer runs a build whose protocol versions do not overlap ours (emitted once per peer node
 * id): `outdated: 'self'` means this tab should reload to update, `'peer'` that the peer should.
 */
export interface VersionMismatch {
  peer: string;
  outdated: 'self' | 'peer';
  ours: VersionRange;
  theirs: VersionRange;
  message: string;
}

/**
 * How long a link that lost a simultaneous-dial tie-break keeps delivering before it closes:
 * what the peer sent on it before switching is queued in the channel, at most a few MiB.
 */
const RETIRE_MS = 5000;

/** Mismatched peers remembered (node ids are per page load, so a reloaded peer is new). */
const MAX_MISMATCHED = 256;

export interface MeshNodeStats {
  linksOpened: number;
  /** Duplicate links from simultaneous dials, retired (see `#admit`). */
  linksRetired: number;
  /** Members dropped on a signed goodbye that came through the signaling server. */
  goodbyesViaServer: number;
  handshakeFailures: Record<string, number>;
  rejectedFrom: Record<string, number>;
}

export class MeshNode extends Emitter<{
  nodes: NodeInfo[];
  error: WosError;
  coordinator: { coordinator: string | undefined; term: Term | undefined };
  status: TransportStatus;
  version: VersionMismatch;
}> {
  readonly id: string;
  readonly meshId: string;
  readonly meshKey: string;
  readonly bus: Bus;
  readonly members: Membership;
  readonly election: Election;
  readonly registry: Registry;
  readonly rtt: RttTracker;
  readonly clock: Clock;
  readonly stats: MeshNodeStats = {
    linksOpened: 0,
    linksRetired: 0,
    goodbyesViaServer: 0,
    handshakeFailures: {},
    rejectedFrom: {},
  };
  readonly #c: MeshNodeComponents;
  readonly #linkCtx: LinkContext;
  readonly #directoryId: string;
  readonly #dialing = new Set<string>();
  /** Peers that failed with PROTOCOL_MISMATCH: never dialed again (they may still dial us). */
  readonly #mismatched = new Map<string, VersionMismatch>();
  readonly #timers: (() => void)[] = [];
  /** Links that lost a simultaneous-dial tie-break, with their close timers (see `#admit`). */
  readonly #retired = new Map<Link, unknown>();
  #closed = false;
  /** This node's signed goodbye (goodbye.ts), made at creation. */
  #goodbye: Goodbye | undefined;
  /** The device key each linked member proved, to check its goodbye via the server. */
  readonly #keys = new Map<string, Uint8Array>();

  private constructor(
    c: MeshNodeComponents,
    o: MeshNodeOptions,
    meshId: string,
    authKey: CryptoKey,
  ) {
    super();
    this.#c = c;
    this.clock = c.clock;
    this.id = c.transport.id;
    this.meshId = meshId;
    this.meshKey = o.meshKey;
    this.#directoryId = o.directoryMeshId ?? meshId;
    const rand = (): number => (c.random(4).reduce((a, b) => a * 256 + b, 0) >>> 0) / 2 ** 32;
    this.bus = new Bus(this.id, c.clock);
    this.members = new Membership(this.bus, c.clock, o.kind, o.membership);
    const interval = this.members.options.intervalMs;
    this.election = new Election(
      this.bus,
      c.clock,
      this.members,
      { intervalMs: interval, voteTimeoutMs: interval * 2 },
      rand,
    );
    this.registry = new Registry(this.bus, c.clock, this.members, this.election, {
      snapshotMs: interval * 4,
      debounceMs: 30,
    });
    this.rtt = new RttTracker(this.bus, c.clock, o.pingMs ?? 2000);
    serveThroughputProbe(this.bus);
    this.#linkCtx = {
      nodeId: this.id,
      kind: o.kind,
      identity: c.identity,
      meshId,
      meshAuthKey: authKey,
      subtle: c.subtle,
      random: c.random,
      clock: c.clock,
      maxMessageBytes: o.maxMessageBytes ?? 16 * 1024 * 1024,
      handshakeTimeoutMs: o.handshakeTimeoutMs ?? 10_000,
    };
    if (o.protocol) this.#linkCtx.protocol = o.protocol;
    if (c.admission) this.#linkCtx.admission = c.admission;
    this.bus.onReject = (from) => {
      this.stats.rejectedFrom[from] = (this.stats.rejectedFrom[from] ?? 0) + 1;
    };
    const changed = (): void => this.emit('nodes', this.nodes());
    this.members.on('join', (m) => {
      if (!this.bus.link(m.id)) this.#dial(m.id);
      changed();
    });
    this.members.on('leave', changed);
    this.registry.on('change', changed);
    this.election.on('change', (e) => {
      this.emit('coordinator', e);
      changed();
    });
    c.transport.onChannel = (ch) => this.#accept(ch);
    c.transport.onGoodbye = (from, payload) => void this.#onGoodbye(from, payload);
    this.members.on('leave', ({ id }) => this.#keys.delete(id));
    c.transport.onStatus = (s) => {
      // Back from a signaling outage: the server's directory may have restarted empty.
      if (s === 'online') void this.#rediscover();
      this.emit('status', s);
    };
    this.#rediscoverMs = o.rediscoverMs ?? 5000;
  }
  readonly #rediscoverMs: number;

  static async create(c: MeshNodeComponents, o: MeshNodeOptions): Promise<MeshNode> {
    const meshId = await meshIdOf(c.subtle, o.meshKey);
    const authKey = await meshAuthKeyOf(c.subtle, o.meshKey);
    if (!c.transport.id.startsWith(`${c.identity.deviceId}-`)) {
      throw new ArgumentError(
        `transport id ${c.transport.id} is not a node id of device ${c.identity.deviceId}`,
      );
    }
    const node = new MeshNode(c, o, meshId, authKey);
    node.#goodbye = await signGoodbye(c.identity, meshId, node.id);
    return node;
  }

  /** Joins the mesh: registers in the directory and links to every member listed there. */
  async start(signal?: AbortSignal): Promise<void> {
    this.members.start();
    this.election.start();
    this.registry.start();
    this.rtt.start();
    this.#timers.push(this.rtt.onUpdate(() => this.emit('nodes', this.nodes())));
    const peers = await this.#c.directory.join(this.#directoryId, signal);
    await Promise.allSettled(peers.filter((p) => p !== this.id).map((p) => this.#dial(p)));
    const stop = every(this.#c.clock, this.#rediscoverMs, () => void this.#rediscover());
    this.#timers.push(stop);
  }

  setResources(resources: Resources): void {
    this.registry.setLocal(resources);
  }

  coordinator(): string | undefined {
    return this.election.coordinator;
  }

  nodes(): NodeInfo[] {
    const view = this.registry.view();
    const coordinator = this.election.coordinator;
    const out: NodeInfo[] = [
      {
        id: this.id,
        kind: this.members.self.kind,
        self: true,
        state: 'self',
        coordinator: coordinator === this.id,
        resources: view.get(this.id)?.resources ?? this.registry.local?.resources,
        rttMs: 0,
      },
    ];
    for (const m of this.members.alive()) {
      out.push({
        id: m.id,
        kind: m.kind,
        self: false,
        state: this.bus.link(m.id) ? 'direct' : 'relayed',
        coordinator: coordinator === m.id,
        resources: view.get(m.id)?.resources,
        rttMs: this.rtt.get(m.id),
      });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Peers found to run a build this one cannot link with (the `version` events so far). */
  versionMismatches(): VersionMismatch[] {
    return [...this.#mismatched.values()];
  }

  /** Leaves the mesh; `goodbye` tells peers at once (tab closing) instead of timing out. */
  async close({ goodbye = true } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (goodbye && this.#goodbye) {
      // First and synchronously: a closing page may not run another task.
      const peers = this.members.alive().map((m) => m.id);
      try {
        this.#c.transport.sendGoodbye?.(peers, this.#goodbye);
      } catch {
        // Best effort: the bye on the links follows.
      }
    }
    const bye = goodbye ? this.members.leave() : Promise.resolve();
    this.members.stop();
    this.election.stop();
    this.registry.stop();
    this.rtt.stop();
    for (const stop of this.#timers) stop();
    await Promise.all([bye, this.#c.directory.leave(this.#directoryId).catch(() => {})]);
    this.bus.close();
    for (const id of this.bus.neighbours()) this.bus.link(id)?.close();
    for (const [l, timer] of this.#retired) {
      this.#c.clock.clearTimeout(timer);
      l.close();
    }
    this.#retired.clear();
    this.#c.transport.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #rediscover(): Promise<void> {
    if (this.#closed) return;
    try {
      const peers = await this.#c.directory.join(this.#directoryId);
      for (const p of peers) if (p !== this.id && !this.bus.link(p)) void this.#dial(p);
    } catch {
      // The signaling server may be away; existing links keep working and we retry later.
    }
  }

  async #dial(peerId: string): Promise<void> {
    if (this.#closed || this.#dialing.has(peerId) || this.bus.link(peerId) || peerId === this.id)
      return;
    // Redialing cannot help until that tab reloads, which gives it a new node id.
    if (this.#mismatched.has(peerId)) return;
    this.#dialing.add(peerId);
    try {
      const ch = await this.#c.transport.dial(peerId);
      await this.#admit(ch);
    } catch (e) {
      this.#fail(e);
    } finally {
      this.#dialing.delete(peerId);
    }
  }

  #accept(ch: Channel): void {
    if (this.#closed) return ch.close();
    this.#admit(ch).catch((e: unknown) => this.#fail(e));
  }

  async #admit(ch: Channel): Promise<void> {
    const link = await establishLink(ch, this.#linkCtx);
    const peer = link.peer.nodeId;
    if (this.#closed) return link.close();
    const existing = this.bus.link(peer);
    if (existing) {
      // Both sides dialed at once: keep the channel dialed by the lower id, on both ends. The
      // other retires: it still delivers what the peer sent on it before switching.
      const dialer = (l: Link): string => (l.framed.channel.initiator ? this.id : peer);
      const keep = dialer(existing) < dialer(link) ? existing : link;
      const drop = keep === existing ? link : existing;
      drop.onClose = undefined;
      this.bus.retireLink(drop);
      this.stats.linksRetired++;
      const timer = this.#c.clock.setTimeout(() => {
        this.#retired.delete(drop);
        drop.close();
      }, RETIRE_MS);
      this.#retired.set(drop, timer);
      if (keep === existing) return;
    }
    this.stats.linksOpened++;
    link.onClose = () => {
      this.bus.removeLink(peer, link);
      this.members.unlinked(peer);
      this.emit('nodes', this.nodes());
    };
    this.bus.addLink(link);
    this.#keys.set(peer, link.peer.publicKey);
    this.members.linked(peer, link.peer.kind);
    this.emit('nodes', this.nodes());
  }

  /**
   * A goodbye through the signaling server (goodbye.ts): checked against the key the node
   * proved on its link (kept past the link, which PeerJS closes on the same message).
   */
  async #onGoodbye(from: string, payload: unknown): Promise<void> {
    const key = this.#keys.get(from);
    if (this.#closed || !key || !this.members.isAlive(from)) return;
    if (await isGoodbyeFrom(this.#c.subtle, payload, this.meshId, from, key)) {
      this.stats.goodbyesViaServer++;
      this.members.drop(from);
    }
  }

  #fail(e: unknown): void {
    const err = e instanceof WosError ? e : new WosError('LINK_FAILED', String(e));
    this.stats.handshakeFailures[err.code] = (this.stats.handshakeFailures[err.code] ?? 0) + 1;
    if (err instanceof ProtocolMismatchError) {
      // An old tab redials every few seconds: tell the UI once per peer, not on every attempt.
      if (this.#mismatched.has(err.peer)) return;
      if (this.#mismatched.size >= MAX_MISMATCHED) this.#mismatched.clear();
      const { peer, outdated, ours, theirs, message } = err;
      const m: VersionMismatch = { peer, outdated, ours, theirs, message };
      this.#mismatched.set(peer, m);
      this.emit('version', m);
    }
    this.emit('error', err);
  }
}
