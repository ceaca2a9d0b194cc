import * as v from 'valibot';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import { Emitter } from '../emitter.ts';
import { ArgumentError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { NodeKind } from '../link.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { Resources } from '../resources.ts';
import { RevocationError } from './account-errors.ts';
import { CertificateSchema, type Certificate, type DeviceKind } from './certificate.ts';
import {
  certificateAdmission,
  type CertificateAdmission,
  type CertificateAdmissionOptions,
} from './certificate-admission.ts';
import { grantEpochKey, newEpochKey, openEpochGrant, type EpochGrant } from './epoch-keys.ts';
import {
  emptyRevocations,
  isRevoked,
  mergeRevocations,
  revokeDevices,
  RevocationListSchema,
  type RevocationList,
} from './revocation.ts';
import { sendSoon } from '../send-soon.ts';

/**
 * The revocation service of a personal mesh. Members gossip their newest signed revocation list
 * (to each member that joins, and to all when it changes) and their own certificate (so members
 * reached only through a relay know each other's devices). Lists merge by `mergeRevocations`:
 * older ones are answered with ours, rollbacks are refused and reported, forks are reported
 * (and the side whose own revocation lost the fork signs the union). A revoked device's nodes
 * are disconnected and dropped from membership at once, and the admission refuses them from
 * then on (CERT_REVOKED).
 *
 * `revoke(deviceId)` (needs the account signing key) signs the next list, which starts a new
 * storage epoch: a fresh epoch key is granted (epoch-keys.ts) to every remaining device whose
 * certificate this node knows, sealed to the box key in that certificate and sent over the bus
 * (again whenever a node of that device joins later). The newest epoch key this device holds is
 * `epochKey()` (and the `epoch` event): the owner stores it and writes new files under it.
 */
export interface AccountSigner {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export interface EpochKey {
  readonly epoch: number;
  /** Raw 32-byte epoch storage root (keep it wrapped at rest; import with importStorageRootKey). */
  readonly key: Uint8Array;
}

export interface RevocationServiceOptions {
  readonly admission: CertificateAdmission;
  readonly subtle: SubtleCrypto;
  readonly random: (n: number) => Uint8Array;
  /** Wall-clock time, ms (revocation times, last seen). */
  readonly now: () => number;
  /**
   * This device: its id, its own certificate, and its box key pair that grants are sealed to
   * (or `openGrant`, when something else holds the box key, e.g. the account session).
   */
  readonly self: {
    readonly deviceId: string;
    readonly certificate: Certificate;
    readonly boxPrivateKey?: CryptoKey;
    readonly boxPublicKey?: Uint8Array;
  };
  /** Opens (and keeps) a grant addressed to this device; throws `EpochKeyError`. */
  readonly openGrant?: (grant: unknown) => Promise<EpochKey>;
  /** The account signing key; without it this device can follow revocations but not make them. */
  readonly signer?: AccountSigner;
  /** The newest revocation list this device stored (verified again before use). */
  readonly list?: RevocationList;
  /** The newest epoch key this device holds. */
  readonly epochKey?: EpochKey;
}

export interface DeviceInfo {
  readonly deviceId: string;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly certificate: Certificate;
  readonly self: boolean;
  readonly revoked: boolean;
  /** A node of this device is a live member now (or it is this device). */
  readonly online: boolean;
  /** Last evidence of life, ms (wall clock); undefined when never seen. */
  readonly lastSeen: number | undefined;
  readonly nodes: readonly { id: string; kind: NodeKind; resources: Resources | undefined }[];
}

export interface RevokeResult {
  readonly list: RevocationList;
  readonly epoch: number;
  /** Devices that were sent a grant of the new epoch. */
  readonly granted: readonly string[];
}

const RevMsgSchema = v.strictObject({ list: RevocationListSchema });
const CertMsgSchema = v.strictObject({ cert: CertificateSchema });
/** Shape-checked fully by `openEpochGrant` before use. */
const GrantMsgSchema = v.strictObject({
  grant: v.pipe(v.record(v.string(), v.union([v.string(), v.number()])), v.maxEntries(8)),
});
const MAX_PENDING_GRANTS = 8;

export class RevocationService extends Emitter<{
  /** The list in force changed. */
  revocations: RevocationList;
  /** A device was revoked (its nodes are being disconnected). */
  revoked: { deviceId: string };
  /** This device now holds a newer epoch key. */
  epoch: EpochKey;
  /** Two different lists of one version were seen: someone else signs as this account. */
  fork: { version: number; kept: RevocationList; other: RevocationList };
  /** This very device is revoked. */
  selfRevoked: RevocationList;
  /** A list or grant from a peer was refused (e.g. REVOCATION_ROLLBACK). */
  error: WosError;
}> {
  readonly #node: MeshNode;
  readonly #o: RevocationServiceOptions;
  #list: RevocationList | undefined;
  #epoch: EpochKey | undefined;
  /** The last list this device signed (to notice when it loses a fork). */
  #mine: RevocationList | undefined;
  /** Grants of the newest epoch this device made, by device id (re-sent when one joins). */
  readonly #grants = new Map<string, EpochGrant>();
  readonly #pendingGrants: { grant: unknown; epoch: number }[] = [];
  readonly #lastSeen = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();
  #selfRevoked = false;

  private constructor(node: MeshNode, o: RevocationServiceOptions, list?: RevocationList) {
    super();
    this.#node = node;
    this.#o = o;
    this.#list = list;
    this.#epoch = o.epochKey;
    const bus = node.bus;
    bus.handle('acct.rev', RevMsgSchema, (m) => {
      this.#serial(() => this.#onList(m.body.list, m.from)).catch((e) => this.#report(e));
    });
    bus.handle('acct.cert', CertMsgSchema, (m) => {
      this.#serial(() => this.#onCert(m.body.cert, m.from)).catch((e) => this.#report(e));
    });
    bus.handle('acct.grant', GrantMsgSchema, (m) => {
      this.#serial(() => this.#onGrant(m.body.grant)).catch((e) => this.#report(e));
    });
    node.members.on('join', (mem) => this.#onJoin(mem.id));
    node.members.on('leave', ({ id }) => this.#lastSeen.set(deviceOfNode(id), o.now()));
  }

  /** Attaches to `node` (call before `node.start()`, e.g. in startNode's `beforeStart`). */
  static async attach(node: MeshNode, o: RevocationServiceOptions): Promise<RevocationService> {
    const key = o.admission.accountKey;
    const list = o.list
      ? (await mergeRevocations(o.subtle, key, undefined, o.list)).list
      : undefined;
    if (o.self.certificate.device.id !== o.self.deviceId) {
      throw new ArgumentError('self.certificate is not the certificate of self.deviceId');
    }
    const { boxPrivateKey, boxPublicKey } = o.self;
    if (!o.openGrant && (!boxPrivateKey || !boxPublicKey)) {
      throw new ArgumentError('give self.boxPrivateKey and self.boxPublicKey, or openGrant');
    }
    if (boxPublicKey && toBase64Url(boxPublicKey) !== o.self.certificate.device.box) {
      throw new ArgumentError('self.boxPublicKey is not the box key in this device certificate');
    }
    await o.admission.learn(o.self.certificate).catch(() => {});
    return new RevocationService(node, o, list);
  }

  /** The revocation list in force. */
  get list(): RevocationList | undefined {
    return this.#list;
  }

  /** The newest storage epoch key this device holds (undefined: epoch 0, from the secret). */
  epochKey(): EpochKey | undefined {
    return this.#epoch;
  }

  /** Every device whose certificate this node has verified, this one first. */
  devices(): DeviceInfo[] {
    const { self, now } = this.#o;
    const known = new Map(this.#o.admission.known());
    known.set(self.deviceId, { certificate: self.certificate, at: now() });
    const view = this.#node.registry.view();
    const alive = this.#node.members.alive();
    const nowMs = now();
    const clockNow = this.#node.clock.now();
    const out: DeviceInfo[] = [];
    for (const [id, k] of known) {
      const isSelf = id === self.deviceId;
      const members = alive.filter((m) => deviceOfNode(m.id) === id);
      const nodes = members.map((m) => ({
        id: m.id,
        kind: m.kind,
        resources: view.get(m.id)?.resources,
      }));
      if (isSelf) {
        nodes.unshift({
          id: this.#node.id,
          kind: this.#node.members.self.kind,
          resources: view.get(this.#node.id)?.resources ?? this.#node.registry.local?.resources,
        });
      }
      // Member times are on the node's clock; convert to wall clock.
      const seen = members.map((m) => nowMs - (clockNow - m.seenAt));
      const lastSeen = isSelf
        ? nowMs
        : seen.length > 0
          ? Math.max(...seen)
          : (this.#lastSeen.get(id) ?? k.at);
      out.push({
        deviceId: id,
        name: k.certificate.name,
        kind: k.certificate.kind,
        certificate: k.certificate,
        self: isSelf,
        revoked: this.#list ? isRevoked(this.#list, id) : false,
        online: isSelf || members.length > 0,
        lastSeen,
        nodes,
      });
    }
    return out.sort((a, b) =>
      a.self !== b.self ? (a.self ? -1 : 1) : a.name.localeCompare(b.name),
    );
  }

  /**
   * Revokes a device: signs the next list (a new storage epoch), disconnects the device
   * everywhere, and grants the new epoch key to every other known device.
   */
  revoke(deviceId: string): Promise<RevokeResult> {
    const signer = this.#o.signer;
    if (!signer) {
      return Promise.reject(
        new WosError('ACCOUNT_KEY_MISSING', 'revoking a device needs the account signing key'),
      );
    }
    if (!/^[a-z2-7]{16}$/.test(deviceId)) {
      return Promise.reject(new ArgumentError(`'${deviceId}' is not a device id`));
    }
    if (deviceId === this.#o.self.deviceId) {
      return Promise.reject(new ArgumentError('revoke this device from another enrolled device'));
    }
    return this.#serial(() => this.#revoke(signer, [deviceId]));
  }

  async #revoke(signer: AccountSigner, devices: string[]): Promise<RevokeResult> {
    const { subtle, random, now, self } = this.#o;
    const current = this.#list ?? (await emptyRevocations(signer));
    const next = await revokeDevices(signer, current, devices, Math.floor(now()));
    if (next === current) return { list: current, epoch: current.epoch, granted: [] };
    const key = newEpochKey(random);
    const remaining = [...this.#o.admission.known().values()]
      .map((k) => k.certificate)
      .filter((c) => c.device.id !== self.deviceId && !isRevoked(next, c.device.id));
    const grants = await Promise.all(
      remaining.map((c) =>
        grantEpochKey(subtle, random, signer, next.epoch, key, {
          id: c.device.id,
          box: fromBase64Url(c.device.box),
        }),
      ),
    );
    this.#mine = next;
    this.#grants.clear();
    for (const g of grants) this.#grants.set(g.device, g);
    this.#setEpoch({ epoch: next.epoch, key });
    this.#adopt(next);
    for (const g of grants) this.#sendGrant(g);
    return { list: next, epoch: next.epoch, granted: grants.map((g) => g.device) };
  }

  #report(e: unknown): void {
    this.emit('error', e instanceof WosError ? e : new WosError('REVOCATION_SERVICE', String(e)));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #onJoin(id: string): void {
    const device = deviceOfNode(id);
    this.#lastSeen.set(device, this.#o.now());
    if (this.#list && isRevoked(this.#list, device)) return this.#expel(id);
    if (this.#list) sendSoon(this.#node, id, 'acct.rev', { list: this.#list });
    sendSoon(this.#node, id, 'acct.cert', { cert: this.#o.self.certificate });
    const grant = this.#grants.get(device);
    if (grant) sendSoon(this.#node, id, 'acct.grant', { grant });
  }

  async #onList(incoming: RevocationList, from: string): Promise<void> {
    const { subtle, admission } = this.#o;
    const before = this.#list;
    let r;
    try {
      r = await mergeRevocations(subtle, admission.accountKey, before, incoming);
    } catch (e) {
      if (!(e instanceof WosError)) throw e;
      this.emit('error', e);
      // Tell a peer holding an older (or forged) view what is in force.
      if (before && e instanceof RevocationError && e.code === 'REVOCATION_ROLLBACK') {
        this.#node.bus.send(from, 'acct.rev', { list: before }).catch(() => {});
      }
      return;
    }
    if (before && incoming.version < before.version) {
      this.#node.bus.send(from, 'acct.rev', { list: before }).catch(() => {});
    }
    if (r.conflict && before) {
      const other = r.list === before ? incoming : before;
      this.emit('fork', { version: before.version, kept: r.list, other });
    }
    if (r.changed) this.#adopt(r.list);
    // Our own revocation lost a fork: sign it again on top of the winner.
    const mine = this.#mine;
    const signer = this.#o.signer;
    if (r.conflict && signer && mine && mine.version === r.list.version && r.list !== mine) {
      const lost = mine.revoked.map((e) => e.device).filter((d) => !isRevoked(r.list, d));
      if (lost.length > 0) await this.#revoke(signer, lost);
    }
    await this.#retryPendingGrants();
  }

  async #onCert(cert: Certificate, from: string): Promise<void> {
    if (cert.device.id !== deviceOfNode(from)) return; // a member only vouches for itself
    try {
      await this.#o.admission.learn(cert);
    } catch (e) {
      if (e instanceof WosError) this.emit('error', e);
      else throw e;
    }
  }

  async #onGrant(grant: unknown): Promise<void> {
    const { subtle, admission, self, openGrant } = this.#o;
    let opened: EpochKey;
    try {
      opened = openGrant
        ? await openGrant(grant)
        : await openEpochGrant(subtle, grant, admission.accountKey, {
            deviceId: self.deviceId,
            boxPrivateKey: self.boxPrivateKey!,
            boxPublicKey: self.boxPublicKey!,
          });
    } catch (e) {
      if (e instanceof WosError) return this.emit('error', e);
      throw e;
    }
    if ((this.#epoch?.epoch ?? 0) >= opened.epoch) return;
    if ((this.#list?.epoch ?? 0) < opened.epoch) {
      // The list announcing this epoch has not arrived yet: keep the grant until it does.
      if (this.#pendingGrants.length < MAX_PENDING_GRANTS) {
        this.#pendingGrants.push({ grant, epoch: opened.epoch });
      }
      return;
    }
    this.#setEpoch(opened);
  }

  async #retryPendingGrants(): Promise<void> {
    const due = this.#pendingGrants.filter((p) => p.epoch <= (this.#list?.epoch ?? 0));
    if (due.length === 0) return;
    for (const p of due) this.#pendingGrants.splice(this.#pendingGrants.indexOf(p), 1);
    for (const p of due) await this.#onGrant(p.grant);
  }

  #setEpoch(e: EpochKey): void {
    if ((this.#epoch?.epoch ?? 0) >= e.epoch) return;
    this.#epoch = e;
    this.emit('epoch', e);
  }

  /** Puts `list` in force: tells every member, disconnects and drops revoked devices. */
  #adopt(list: RevocationList): void {
    const before = this.#list;
    this.#list = list;
    this.emit('revocations', list);
    const bus = this.#node.bus;
    for (const m of this.#node.members.alive()) {
      bus.send(m.id, 'acct.rev', { list }).catch(() => {});
    }
    for (const e of list.revoked) {
      if (before && isRevoked(before, e.device)) continue;
      if (e.device === this.#o.self.deviceId) continue;
      this.emit('revoked', { deviceId: e.device });
    }
    const ids = new Set([...bus.neighbours(), ...this.#node.members.alive().map((m) => m.id)]);
    for (const id of ids) if (isRevoked(list, deviceOfNode(id))) this.#expel(id);
    if (!this.#selfRevoked && isRevoked(list, this.#o.self.deviceId)) {
      this.#selfRevoked = true;
      this.emit('selfRevoked', list);
    }
  }

  #expel(id: string): void {
    this.#node.bus.link(id)?.close();
    this.#node.members.drop(id);
  }

  #sendGrant(g: EpochGrant): void {
    for (const m of this.#node.members.alive()) {
      if (deviceOfNode(m.id) === g.device) {
        this.#node.bus.send(m.id, 'acct.grant', { grant: g }).catch(() => {});
      }
    }
  }
}

/**
 * Everything a personal mesh needs, in the order startNode wants it: pass `admission` to
 * startNode (or MeshNode.create) and call `attach(node)` in `beforeStart`. The admission reads
 * the revocation list the service keeps.
 */
export function personalMeshParts(
  o: Omit<RevocationServiceOptions, 'admission'> & Pick<CertificateAdmissionOptions, 'accountKey'>,
): { admission: CertificateAdmission; attach(node: MeshNode): Promise<RevocationService> } {
  let service: RevocationService | undefined;
  const admission = certificateAdmission({
    accountKey: o.accountKey,
    subtle: o.subtle,
    now: o.now,
    certificate: o.self.certificate,
    // Until the service is attached, the stored list (verified by attach) is the one in force.
    revocations: () => service?.list ?? o.list,
  });
  return {
    admission,
    attach: async (node) => (service = await RevocationService.attach(node, { ...o, admission })),
  };
}
