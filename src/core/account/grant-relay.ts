import * as v from 'valibot';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import { sendSoon } from '../send-soon.ts';
import { verifyEpochGrant, type EpochGrant } from './epoch-keys.ts';
import { U32Schema } from './schemas.ts';

/**
 * Epoch grants on their way to a device that was offline when they were made. A grant is sealed
 * to its target's box key and signed by the account, so any device may keep and pass it on:
 * whoever made a grant (a revocation, an approval) keeps it in its store and sends it to every
 * online member, each member keeps it too (its own store), and whichever member is online when
 * a node of the target joins hands it over. A device online now gets its grant on one of its
 * nodes (the lowest id): its other tabs take the key up through the profile channel
 * (profile-channel.ts) rather than each opening and storing it at once. The target opens it (openEpochGrant's checks) and
 * announces the epochs it holds (`acct.epochs`); every member then drops the grants for those
 * epochs. A device's announcement is also what the Devices view reads to tell that a device
 * lacks the current epoch ("needs approval").
 *
 * Messages (bodies validated by the bus; each grant checked again by `verifyEpochGrant`):
 * - `acct.grants { grants: unknown[1..64] }`: grants for any devices, this one's included;
 * - `acct.epochs { epochs: u32[..1024] }`: the epochs the sending device holds (0 included).
 */
export interface GrantStore {
  loadGrants(): Promise<unknown[]>;
  putGrant(id: string, grant: unknown): Promise<void>;
  deleteGrant(id: string): Promise<void>;
}

export const MAX_GRANTS_PER_MESSAGE = 64;
/** Grants kept for others at most (a bound on what a peer can make this device store). */
export const MAX_RELAYED_GRANTS = 512;
const MAX_EPOCHS = 1024;

const GrantsMsgSchema = v.strictObject({
  grants: v.pipe(v.array(v.unknown()), v.minLength(1), v.maxLength(MAX_GRANTS_PER_MESSAGE)),
});
const EpochsMsgSchema = v.strictObject({
  epochs: v.pipe(v.array(U32Schema), v.maxLength(MAX_EPOCHS)),
});

export interface GrantRelayOptions {
  readonly node: MeshNode;
  readonly subtle: SubtleCrypto;
  readonly accountKey: Uint8Array;
  readonly selfDevice: string;
  /** Where relayed grants survive this tab (the account store); memory only without it. */
  readonly store?: GrantStore | undefined;
  isRevoked(device: string): boolean;
  /** Opens a grant addressed to this device (and reports its own errors). */
  openOwn(grant: EpochGrant): Promise<void>;
  /** The epochs this device holds now, 0 included. */
  held(): readonly number[];
  report(e: unknown): void;
}

const idOf = (g: { device: string; epoch: number }): string => `${g.device}/${g.epoch}`;

export class GrantRelay {
  readonly #o: GrantRelayOptions;
  readonly #pending = new Map<string, EpochGrant>();
  /** Epochs each other device said it holds (the union over its nodes). */
  readonly #held = new Map<string, Set<number>>();

  constructor(o: GrantRelayOptions) {
    this.#o = o;
    o.node.bus.handle('acct.grants', GrantsMsgSchema, (m) => {
      this.receive(m.body.grants).catch((e) => o.report(e));
    });
    o.node.bus.handle('acct.epochs', EpochsMsgSchema, (m) => {
      this.#onEpochs(deviceOfNode(m.from), m.body.epochs);
    });
  }

  /** Takes up the grants kept in the store (checked again; damaged ones are dropped). */
  async load(): Promise<void> {
    const store = this.#o.store;
    if (!store) return;
    for (const raw of await store.loadGrants()) {
      try {
        const g = await verifyEpochGrant(this.#o.subtle, raw, this.#o.accountKey);
        if (g.device !== this.#o.selfDevice && !this.#o.isRevoked(g.device)) {
          this.#pending.set(idOf(g), g);
        }
      } catch (e) {
        this.#o.report(e);
      }
    }
  }

  /** Grants waiting for their targets. */
  pending(): EpochGrant[] {
    return [...this.#pending.values()];
  }

  /** The epochs `device` announced it holds; undefined when none of its nodes said. */
  heldBy(device: string): number[] | undefined {
    const s = this.#held.get(device);
    return s ? [...s].sort((a, b) => a - b) : undefined;
  }

  /**
   * Whether `device` is known to lack `epoch`: it announced what it holds, without it, and no
   * grant of it is on its way (it needs approval).
   */
  lacks(device: string, epoch: number): boolean {
    const held = this.#held.get(device);
    return held !== undefined && !held.has(epoch) && !this.#pending.has(idOf({ device, epoch }));
  }

  /** Grants this device made: kept, and sent to every member (targets and relays alike). */
  async add(grants: readonly EpochGrant[]): Promise<void> {
    const fresh = await this.#keep(grants);
    if (fresh.length === 0) return;
    const first = this.#firstNodes();
    for (const m of this.#o.node.members.alive()) {
      const device = deviceOfNode(m.id);
      if (this.#o.isRevoked(device)) continue;
      // Its own grants to one node of a device; every grant for others to each (as a relay).
      this.#send(
        m.id,
        fresh.filter((g) => g.device !== device || first.get(device) === m.id),
      );
    }
  }

  /** Grants from a peer: each checked; this device's opened, others kept and handed on. */
  async receive(grants: readonly unknown[]): Promise<void> {
    const ok: EpochGrant[] = [];
    for (const raw of grants) {
      let g: EpochGrant;
      try {
        g = await verifyEpochGrant(this.#o.subtle, raw, this.#o.accountKey);
      } catch (e) {
        this.#o.report(e);
        continue;
      }
      if (g.device === this.#o.selfDevice) await this.#o.openOwn(g);
      else ok.push(g);
    }
    const fresh = await this.#keep(ok);
    const first = this.#firstNodes();
    for (const g of fresh) {
      const target = first.get(g.device);
      if (target) this.#send(target, [g]);
    }
  }

  /** A node joined: tell it what this device holds and hand it every grant waiting. */
  onJoin(nodeId: string): void {
    sendSoon(this.#o.node, nodeId, 'acct.epochs', { epochs: [...this.#o.held()] });
    this.#send(nodeId, this.pending());
  }

  /** This device holds a new epoch: tell every member. */
  announce(): void {
    const epochs = [...this.#o.held()];
    for (const m of this.#o.node.members.alive()) {
      this.#o.node.bus.send(m.id, 'acct.epochs', { epochs }).catch(() => {});
    }
  }

  /** The revocation list changed: grants for revoked devices are never delivered. */
  forgetRevoked(): void {
    for (const [id, g] of this.#pending) if (this.#o.isRevoked(g.device)) this.#drop(id);
  }

  async #keep(grants: readonly EpochGrant[]): Promise<EpochGrant[]> {
    const fresh: EpochGrant[] = [];
    for (const g of grants) {
      const id = idOf(g);
      if (this.#pending.has(id) || this.#o.isRevoked(g.device)) continue;
      if (this.#held.get(g.device)?.has(g.epoch)) continue;
      if (this.#pending.size >= MAX_RELAYED_GRANTS) break;
      this.#pending.set(id, g);
      fresh.push(g);
      await this.#o.store?.putGrant(id, g).catch((e: unknown) => this.#o.report(e));
    }
    return fresh;
  }

  #onEpochs(device: string, epochs: readonly number[]): void {
    if (device === this.#o.selfDevice) return;
    const set = this.#held.get(device) ?? new Set<number>();
    for (const e of epochs) if (set.size < MAX_EPOCHS) set.add(e);
    this.#held.set(device, set);
    for (const [id, g] of this.#pending)
      if (g.device === device && set.has(g.epoch)) this.#drop(id);
  }

  /** The lowest-id live node of each device. */
  #firstNodes(): Map<string, string> {
    const first = new Map<string, string>();
    for (const m of this.#o.node.members.alive()) {
      const d = deviceOfNode(m.id);
      const have = first.get(d);
      if (have === undefined || m.id < have) first.set(d, m.id);
    }
    return first;
  }

  #drop(id: string): void {
    this.#pending.delete(id);
    this.#o.store?.deleteGrant(id).catch((e: unknown) => this.#o.report(e));
  }

  #send(nodeId: string, grants: readonly EpochGrant[]): void {
    for (let i = 0; i < grants.length; i += MAX_GRANTS_PER_MESSAGE) {
      const chunk = grants.slice(i, i + MAX_GRANTS_PER_MESSAGE);
      sendSoon(this.#o.node, nodeId, 'acct.grants', { grants: chunk });
    }
  }
}
