import * as v from 'valibot';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import type { Admission, AdmissionVerdict, ProvenPeer } from '../admission.ts';
import { Emitter } from '../emitter.ts';
import { ArgumentError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import { CertificateError, MembersError } from './account-errors.ts';
import { CertificateSchema, verifyCertificate, type Certificate } from './certificate.ts';
import { checkHandleKey, formatHandle, parseHandle } from './handle.ts';
import {
  acceptClaim,
  addInvite,
  isMember,
  mergeMemberLists,
  MemberListSchema,
  newInvite,
  removeMember,
  unionLists,
  verifyInviteClaim,
  type AccountSigner,
  type InviteClaim,
  type MemberList,
} from './member-list.ts';
import { sendSoon } from '../send-soon.ts';

/**
 * A shared mesh (household, team): a mesh whose admission asks for a valid device certificate
 * of an account in the newest member list signed by the mesh's owner (member-list.ts). The
 * service gossips that list like the revocation list (to each member that joins, and to all on
 * a change; higher version wins; lists not signed by the owner are refused), closes the links
 * of devices whose account is no longer a member, and lets a device of the owner's account
 * `invite()` (a one-time invite key in the list, its seed in the link), accept an invitee's
 * claim at admission (the account becomes a member in the next version), and `remove(account)`.
 *
 * Revocation lists of member accounts are not consulted in v1 (only the certificate's own
 * signature is checked): a device its account revoked stays admitted to shared meshes until its
 * account is removed.
 */
export interface SharedMeshOptions {
  readonly meshId: string;
  /** The owner's account public key, b64u (from the link). */
  readonly owner: string;
  readonly subtle: SubtleCrypto;
  readonly random: (n: number) => Uint8Array;
  readonly now: () => number;
  /** This device's certificate (shown in `hello`); none when signed out (then refused). */
  readonly certificate?: Certificate;
  /** The invite claim this device shows until its account is a member. */
  readonly claim?: InviteClaim;
  /** The account signing key, when this device belongs to the owner's account. */
  readonly signer?: AccountSigner;
  /** The newest list this device stored (verified again before use). */
  readonly list?: MemberList;
}

export interface MemberInfo {
  readonly account: string;
  readonly handle: string | undefined;
  readonly owner: boolean;
  /** This device's account. */
  readonly self: boolean;
  readonly added: number;
  /** Live nodes of this account that this node knows of. */
  readonly nodes: readonly string[];
}

const ListMsgSchema = v.strictObject({ list: MemberListSchema });
const CertMsgSchema = v.strictObject({ cert: CertificateSchema });
const MAX_ACCOUNT_ENTRIES = 4096;

export class SharedMeshService extends Emitter<{
  /** The list in force changed. */
  members: MemberList;
  /** An account was removed (its devices are being disconnected). */
  removed: { account: string };
  /** This device's account is not (or no longer) a member. */
  selfRemoved: MemberList;
  /** A list from a peer was refused (MEMBERS_*), or a claim could not be recorded. */
  error: WosError;
}> {
  readonly #node: MeshNode;
  readonly #o: SharedMeshOptions;
  readonly #accounts: Map<string, string>;
  #list: MemberList | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #selfRemoved = false;

  private constructor(
    node: MeshNode,
    o: SharedMeshOptions,
    accounts: Map<string, string>,
    list: MemberList | undefined,
  ) {
    super();
    this.#node = node;
    this.#o = o;
    this.#accounts = accounts;
    this.#list = list;
    node.bus.handle('mesh.members', ListMsgSchema, (m) => {
      this.#serial(() => this.#onList(m.body.list, m.from)).catch((e) => this.#report(e));
    });
    // Members also learn each other's certificates (so a member reached only through a relay
    // is known by account, and dropped at once when that account is removed).
    node.bus.handle('mesh.cert', CertMsgSchema, (m) => {
      this.#serial(() => this.#onCert(m.body.cert, m.from)).catch((e) => this.#report(e));
    });
    node.members.on('join', (mem) => {
      if (this.#list) sendSoon(this.#node, mem.id, 'mesh.members', { list: this.#list });
      const cert = o.certificate;
      if (cert) sendSoon(this.#node, mem.id, 'mesh.cert', { cert });
    });
    node.members.on('leave', ({ id }) => this.#accounts.delete(id));
  }

  static async attach(
    node: MeshNode,
    o: SharedMeshOptions,
    accounts: Map<string, string>,
  ): Promise<SharedMeshService> {
    if (node.meshId !== o.meshId) throw new ArgumentError('meshId is not this node’s mesh');
    const list = o.list ? (await mergeMemberLists(o.subtle, o, undefined, o.list)).list : undefined;
    return new SharedMeshService(node, o, accounts, list);
  }

  get list(): MemberList | undefined {
    return this.#list;
  }

  /** Whether this device may change the list (it belongs to the owner's account). */
  get isOwner(): boolean {
    return this.#o.signer !== undefined;
  }

  members(): MemberInfo[] {
    const list = this.#list;
    if (!list) return [];
    const self = this.#o.certificate?.account;
    const alive = new Set(this.#node.members.alive().map((m) => m.id));
    return list.members
      .map((m) => ({
        account: m.account,
        handle: m.handle,
        owner: m.account === list.owner,
        self: m.account === self,
        added: m.added,
        nodes: [...this.#accounts]
          .filter(([id, a]) => a === m.account && alive.has(id))
          .map(([id]) => id),
      }))
      .sort((a, b) => (a.owner !== b.owner ? (a.owner ? -1 : 1) : a.added - b.added));
  }

  /** A new one-time invite (owner only): returns the seed to put in the link. */
  invite(): Promise<Uint8Array> {
    const signer = this.#needSigner('inviting');
    return this.#serial(async () => {
      const list = this.#needList();
      const inv = await newInvite(this.#o.subtle, this.#o.random);
      this.#adopt(await addInvite(signer, list, inv.publicKey, Math.floor(this.#o.now())));
      return inv.seed;
    });
  }

  /** Removes an account (owner only): its devices are disconnected and refused from then on. */
  remove(account: string): Promise<MemberList> {
    const signer = this.#needSigner('removing a member');
    return this.#serial(async () => {
      this.#adopt(await removeMember(signer, this.#needList(), account));
      return this.#list!;
    });
  }

  /** Called by the admission when an invitee's claim verified on an owner device. */
  accept(claim: InviteClaim): Promise<void> {
    const signer = this.#needSigner('accepting an invite');
    return this.#serial(async () => {
      const list = this.#needList();
      if (isMember(list, claim.account)) return;
      // Checked again: another claim of the same invite may have won meanwhile.
      await verifyInviteClaim(this.#o.subtle, list, claim, claim.account);
      // The handle is display only: kept when its tag is the account's, else left out.
      const handle = claim.handle && (await handleOfAccount(this.#o.subtle, claim));
      const recorded: InviteClaim = {
        v: claim.v,
        invite: claim.invite,
        account: claim.account,
        ...(handle ? { handle } : {}),
        sig: claim.sig,
      };
      this.#adopt(await acceptClaim(signer, list, recorded, Math.floor(this.#o.now())));
    });
  }

  #needSigner(what: string): AccountSigner {
    if (!this.#o.signer) {
      throw new MembersError(
        'MEMBERS_OWNER_ONLY',
        `${what} needs a device of the mesh owner's account`,
      );
    }
    return this.#o.signer;
  }

  #needList(): MemberList {
    if (!this.#list) throw new WosError('MEMBERS_UNKNOWN', 'no member list yet');
    return this.#list;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #report(e: unknown): void {
    this.emit('error', e instanceof WosError ? e : new WosError('MEMBERS_FAILED', String(e)));
  }

  async #onList(incoming: MemberList, from: string): Promise<void> {
    const before = this.#list;
    let r;
    try {
      r = await mergeMemberLists(this.#o.subtle, this.#o, before, incoming);
    } catch (e) {
      if (!(e instanceof WosError)) throw e;
      this.emit('error', e);
      if (before && e.code === 'MEMBERS_ROLLBACK') {
        this.#node.bus.send(from, 'mesh.members', { list: before }).catch(() => {});
      }
      return;
    }
    if (r.stale) this.#node.bus.send(from, 'mesh.members', { list: r.list }).catch(() => {});
    if (r.changed) this.#adopt(r.list);
    const signer = this.#o.signer;
    if (r.conflict && before && signer) {
      const other = r.list === before ? incoming : before;
      this.#adopt(await unionLists(signer, r.list, other));
    }
  }

  async #onCert(cert: Certificate, from: string): Promise<void> {
    if (cert.device.id !== deviceOfNode(from)) return; // a member only vouches for itself
    try {
      await verifyCertificate(this.#o.subtle, cert, fromBase64Url(cert.account));
    } catch (e) {
      if (e instanceof WosError) return this.emit('error', e);
      throw e;
    }
    // It may arrive before this node counts `from` as alive; entries of nodes that left are
    // pruned on `leave`, and the map is bounded against a member minting device certificates.
    const alive = this.#node.members.alive().some((m) => m.id === from);
    if (alive || this.#accounts.size < MAX_ACCOUNT_ENTRIES) this.#accounts.set(from, cert.account);
  }

  #adopt(list: MemberList): void {
    const before = this.#list;
    this.#list = list;
    this.emit('members', list);
    const bus = this.#node.bus;
    for (const m of this.#node.members.alive()) {
      bus.send(m.id, 'mesh.members', { list }).catch(() => {});
    }
    for (const m of before?.members ?? []) {
      if (!isMember(list, m.account)) this.emit('removed', { account: m.account });
    }
    const ids = new Set([...bus.neighbours(), ...this.#node.members.alive().map((m) => m.id)]);
    for (const id of ids) {
      const account = this.#accounts.get(id) ?? bus.link(id)?.peer.certificate?.account;
      if (account !== undefined && !isMember(list, account)) {
        bus.link(id)?.close();
        this.#node.members.drop(id);
        this.#accounts.delete(id);
      }
    }
    const self = this.#o.certificate?.account;
    if (self && !isMember(list, self) && !this.#selfRemoved) {
      // An invitee before its claim was recorded is not removed: it waits for the next list.
      if (!this.#o.claim || before?.members.some((m) => m.account === self)) {
        this.#selfRemoved = true;
        this.emit('selfRemoved', list);
      }
    }
  }
}

/** `claim.handle` normalized (`name#tag`) when its tag is the claiming account's, else undefined. */
async function handleOfAccount(
  subtle: SubtleCrypto,
  claim: InviteClaim,
): Promise<string | undefined> {
  try {
    const h = parseHandle(claim.handle ?? '');
    await checkHandleKey(subtle, h, fromBase64Url(claim.account));
    return formatHandle(h);
  } catch (e) {
    if (e instanceof WosError) return undefined;
    throw e;
  }
}

/**
 * The admission of a shared mesh. A peer needs a certificate whose signature its own account
 * key verifies (CERT_*), issued for the device key it proved (CERT_WRONG_DEVICE), and an
 * account in the list in force (NOT_A_MEMBER) — or, on a device of the owner's account, a valid
 * claim of an unused invite (INVITE_*), which is recorded in the next list before the peer is
 * admitted. A node that has no list yet (an invitee on its first visit) admits every peer with
 * a valid certificate and re-checks them all when the first list arrives.
 */
export interface SharedMeshAdmission extends Admission {
  /** Node id → account key (b64u) of every peer this node admitted. */
  readonly accounts: Map<string, string>;
}

export function sharedMeshParts(o: SharedMeshOptions): {
  admission: SharedMeshAdmission;
  attach(node: MeshNode): Promise<SharedMeshService>;
} {
  let service: SharedMeshService | undefined;
  const accounts = new Map<string, string>();
  const refuse = (code: string, message: string): AdmissionVerdict => ({
    admit: false,
    code,
    message,
  });
  const admission: SharedMeshAdmission = {
    accounts,
    certificate: () => o.certificate,
    claim: () => {
      const self = o.certificate?.account;
      const list = service?.list;
      return o.claim && !(list && self && isMember(list, self)) ? o.claim : undefined;
    },
    async decide(peer: ProvenPeer): Promise<AdmissionVerdict> {
      if (!peer.certificate) {
        return refuse(
          'CERT_MISSING',
          `device ${peer.deviceId} showed no device certificate; this is a shared mesh: sign ` +
            'in to an account that is a member (or open an invite link while signed in)',
        );
      }
      let cert: Certificate;
      try {
        const c = peer.certificate;
        cert = await verifyCertificate(o.subtle, c, fromBase64Url(c.account));
      } catch (e) {
        if (e instanceof CertificateError) return refuse(e.code, e.message);
        if (e instanceof WosError) return refuse('CERT_MALFORMED', e.message);
        throw e;
      }
      if (cert.device.key !== toBase64Url(peer.deviceKey)) {
        return refuse(
          'CERT_WRONG_DEVICE',
          `node ${peer.nodeId} showed the certificate of device ${cert.device.id} but proved ` +
            `device key ${peer.deviceId}`,
        );
      }
      const list = service?.list ?? o.list;
      const ok = (): AdmissionVerdict => {
        accounts.set(peer.nodeId, cert.account);
        return { admit: true };
      };
      if (!list || isMember(list, cert.account)) return ok();
      const name = `"${list.name}"`;
      if (peer.claim === undefined) {
        return refuse(
          'NOT_A_MEMBER',
          `account ${cert.account.slice(0, 8)}… is not a member of the shared mesh ${name}; ` +
            'ask its owner for an invite link',
        );
      }
      if (!o.signer || !service) {
        return refuse(
          'NOT_A_MEMBER',
          `the shared mesh ${name} has not recorded this invite yet: only a device of its ` +
            "owner's account accepts invites; it is retried while one is online",
        );
      }
      try {
        const claim = await verifyInviteClaim(o.subtle, list, peer.claim, cert.account);
        await service.accept(claim);
      } catch (e) {
        if (e instanceof WosError) return refuse(e.code, e.message);
        throw e;
      }
      return ok();
    },
  };
  return {
    admission,
    attach: async (node) => (service = await SharedMeshService.attach(node, o, accounts)),
  };
}
