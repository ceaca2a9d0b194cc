import * as v from 'valibot';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import { Emitter } from '../emitter.ts';
import { ArgumentError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import { RevocationError } from './account-errors.ts';
import { CertificateSchema, type Certificate } from './certificate.ts';
import { grantEpochKey, newEpochKey, openEpochGrant, type EpochGrant } from './epoch-keys.ts';
import { GrantRelay } from './grant-relay.ts';
import {
  emptyRevocations,
  isRevoked,
  mergeRevocations,
  revokeDevices,
  RevocationListSchema,
  type RevocationList,
} from './revocation.ts';
import { sendSoon } from '../send-soon.ts';
import { deviceList, type DeviceInfo } from './device-list.ts';

import type {
  AccountSigner,
  EpochKey,
  RevocationServiceOptions,
  RevokeResult,
} from './revocation-types.ts';

export type { DeviceInfo } from './device-list.ts';
export type {
  AccountSigner,
  EpochKey,
  RevocationServiceOptions,
  RevokeResult,
} from './revocation-types.ts';

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
 * certificate this node knows, sealed to the box key in that certificate — except devices known
 * to lack the current epoch, which need approval first. The grants go through
 * the grant relay (grant-relay.ts): kept in the store by this and every other online device
 * and handed to the target by whichever of them is online when it comes back. `approve(id)`
 * grants every epoch ≥ 1 this device holds to a device that lacks them (docs/ACCOUNTS.md, rule
 * 1: only ever on the user's word). The newest epoch key this device holds is `epochKey()`; the
 * `epoch` event tells each new one: the owner stores it and writes new files under the newest.
 */
const RevMsgSchema = v.strictObject({ list: RevocationListSchema });
const CertMsgSchema = v.strictObject({ cert: CertificateSchema });
const MAX_PENDING_GRANTS = 8;

export class RevocationService extends Emitter<{
  /** The list in force changed. */
  revocations: RevocationList;
  /** A device was revoked (its nodes are being disconnected). */
  revoked: { deviceId: string };
  /** This device now holds the key of one more epoch (the newest is `epochKey()`). */
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
  /** Epochs held (0 included) and the raw keys of those learnt while attached. */
  readonly #held = new Set<number>([0]);
  readonly #keys = new Map<number, Uint8Array>();
  readonly #relay: GrantRelay;
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
    for (const e of o.epochs ?? []) this.#held.add(e);
    if (o.epochKey) {
      this.#held.add(o.epochKey.epoch);
      this.#keys.set(o.epochKey.epoch, o.epochKey.key);
    }
    this.#relay = new GrantRelay({
      node,
      subtle: o.subtle,
      accountKey: o.admission.accountKey,
      selfDevice: o.self.deviceId,
      store: o.grantStore,
      isRevoked: (d) => (this.#list ? isRevoked(this.#list, d) : false),
      openOwn: (g) => this.#serial(() => this.#onGrant(g)).catch((e) => this.#report(e)),
      held: () => [...this.#held].sort((a, b) => a - b),
      report: (e) => this.#report(e),
    });
    const bus = node.bus;
    bus.handle('acct.rev', RevMsgSchema, (m) => {
      this.#serial(() => this.#onList(m.body.list, m.from)).catch((e) => this.#report(e));
    });
    bus.handle('acct.cert', CertMsgSchema, (m) => {
      this.#serial(() => this.#onCert(m.body.cert, m.from)).catch((e) => this.#report(e));
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
    const service = new RevocationService(node, o, list);
    await service.#relay.load();
    return service;
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
    return deviceList({
      node: this.#node,
      self: this.#o.self,
      now: this.#o.now,
      known: this.#o.admission.known(),
      list: this.#list,
      lastSeen: this.#lastSeen,
      held: (d) => (d === this.#o.self.deviceId ? [...this.#held] : this.#relay.heldBy(d)),
      lacks: (d, e) => (d === this.#o.self.deviceId ? !this.#held.has(e) : this.#relay.lacks(d, e)),
    });
  }

  /** Grants relayed for other devices (made here or received), not yet delivered. */
  pendingGrants(): EpochGrant[] {
    return this.#relay.pending();
  }

  /**
   * Approves a device that lacks epochs this device holds (e.g. one enrolled by passphrase
   * after a revocation): grants it every epoch ≥ 1 held here, through the grant relay. Only on
   * the user's word (docs/ACCOUNTS.md, threat model rule 1).
   */
  approve(deviceId: string): Promise<EpochGrant[]> {
    const signer = this.#o.signer;
    if (!signer) {
      return Promise.reject(
        new WosError('ACCOUNT_KEY_MISSING', 'approving a device needs the account signing key'),
      );
    }
    return this.#serial(() => this.#approve(signer, deviceId));
  }

  async #approve(signer: AccountSigner, deviceId: string): Promise<EpochGrant[]> {
    const cert = this.#o.admission.known().get(deviceId)?.certificate;
    if (!cert || deviceId === this.#o.self.deviceId) {
      throw new ArgumentError(`device ${deviceId} is not another device known to this one`);
    }
    if (this.#list && isRevoked(this.#list, deviceId)) {
      throw new ArgumentError(`device ${deviceId} is revoked; it is never granted an epoch`);
    }
    const epochs = [...this.#held].filter((e) => e >= 1).sort((a, b) => a - b);
    if (epochs.length === 0) {
      throw new WosError(
        'APPROVE_NOTHING_HELD',
        'this device holds no storage epoch after 0; approve from a device that holds the ' +
          'current one',
      );
    }
    const box = fromBase64Url(cert.device.box);
    const grants: EpochGrant[] = [];
    for (const e of epochs) {
      const key = this.#keys.get(e) ?? (await this.#o.exportEpochKey?.(e));
      if (key)
        grants.push(
          await grantEpochKey(this.#o.subtle, this.#o.random, signer, e, key, {
            id: deviceId,
            box,
          }),
        );
    }
    await this.#relay.add(grants);
    return grants;
  }

  /** An epoch key another tab of this device learnt (kept in the shared store already). */
  learnEpoch(e: EpochKey): Promise<void> {
    return this.#serial(() => Promise.resolve(this.#setEpoch(e)));
  }

  /** A revocation list another tab of this device learnt: merged like one from a peer. */
  learnList(list: unknown): Promise<void> {
    return this.#serial(() => this.#onList(list));
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
    // Never to a device known to lack the current epoch: it needs approval first (rule 1).
    const unapproved = (id: string): boolean =>
      current.epoch >= 1 && this.#relay.lacks(id, current.epoch);
    const remaining = [...this.#o.admission.known().values()]
      .map((k) => k.certificate)
      .filter((c) => c.device.id !== self.deviceId && !isRevoked(next, c.device.id))
      .filter((c) => !unapproved(c.device.id));
    const grants = await Promise.all(
      remaining.map((c) =>
        grantEpochKey(subtle, random, signer, next.epoch, key, {
          id: c.device.id,
          box: fromBase64Url(c.device.box),
        }),
      ),
    );
    this.#mine = next;
    this.#setEpoch({ epoch: next.epoch, key });
    this.#adopt(next);
    await this.#relay.add(grants);
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
    this.#relay.onJoin(id);
  }

  /** `from`: the peer that sent it (answered with ours when older); none for another tab's. */
  async #onList(incoming: unknown, from?: string): Promise<void> {
    const { subtle, admission } = this.#o;
    const before = this.#list;
    let r;
    try {
      r = await mergeRevocations(subtle, admission.accountKey, before, incoming);
    } catch (e) {
      if (!(e instanceof WosError)) throw e;
      this.emit('error', e);
      // Tell a peer holding an older (or forged) view what is in force.
      if (from && before && e instanceof RevocationError && e.code === 'REVOCATION_ROLLBACK') {
        this.#node.bus.send(from, 'acct.rev', { list: before }).catch(() => {});
      }
      return;
    }
    // mergeRevocations verified it: a signed list of this account.
    const list = incoming as RevocationList;
    if (from && before && list.version < before.version) {
      this.#node.bus.send(from, 'acct.rev', { list: before }).catch(() => {});
    }
    if (r.conflict && before) {
      const other = r.list === before ? list : before;
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
    if (this.#held.has(opened.epoch)) return;
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
    if (this.#held.has(e.epoch)) return;
    this.#held.add(e.epoch);
    this.#keys.set(e.epoch, e.key);
    if ((this.#epoch?.epoch ?? 0) < e.epoch) this.#epoch = e;
    this.emit('epoch', e);
    // Relays drop what they kept for this device; the Devices views update.
    this.#relay.announce();
  }

  /** Puts `list` in force: tells every member, disconnects and drops revoked devices. */
  #adopt(list: RevocationList): void {
    const before = this.#list;
    this.#list = list;
    this.emit('revocations', list);
    this.#relay.forgetRevoked();
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
}
