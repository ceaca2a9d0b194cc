import * as v from 'valibot';
import { bytesEqual, fromBase64Url, toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { describeIssues } from '../wire.ts';
import { MembersError } from './account-errors.ts';
import { CanonicalWriter } from './canonical.ts';
import { ed25519FromSeed, ed25519Sign, ed25519Verify } from './ed25519.ts';
import {
  Ed25519PublicSchema,
  Ed25519SignatureSchema,
  TimeSchema,
  U32Schema,
  parseVersioned,
} from './schemas.ts';

/**
 * The member list of a shared mesh (household, team): which accounts may join, signed by the
 * creator's (owner's) account key and versioned. JSON form:
 *
 *   { v: 1, mesh, name, owner, version, members: [{ account, handle?, added }],
 *     invites: [{ key, issued, used? : { account, at } }], sig }
 *
 * `mesh` is the mesh id (hex SHA-256 of the mesh key, identity.ts), so a list cannot be replayed
 * into another mesh. `members` is sorted by account key, `invites` by invite key, both without
 * duplicates. The owner's account is always a member. An invite is an Ed25519 key pair whose
 * seed travels in the invite link; the list holds its public key, and once an account claimed
 * it, `used` names that account (an invite admits one account, once).
 *
 * Merge: lower version ignored; higher version replaces, unless it forgets that an invite was
 * used (MEMBERS_ROLLBACK: that would make it usable again); same version with other content
 * (two owner devices changed it at once): the larger signature wins on every node and
 * `conflict` tells an owner device to sign the union as the next version.
 */
export const MEMBERS_VERSION = 1;
export const MEMBERS_LABEL = 'wos/v1/mesh-members';
export const INVITE_CLAIM_LABEL = 'wos/v1/invite-claim';
const MAX_MEMBERS = 1024;
const MAX_INVITES = 1024;

const MeshIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const NameSchema = v.pipe(v.string(), v.minLength(1), v.maxLength(64));
const HandleTextSchema = v.pipe(v.string(), v.minLength(3), v.maxLength(200));

const MemberSchema = v.strictObject({
  account: Ed25519PublicSchema,
  handle: v.optional(HandleTextSchema),
  added: TimeSchema,
});
const InviteSchema = v.strictObject({
  key: Ed25519PublicSchema,
  issued: TimeSchema,
  used: v.optional(v.strictObject({ account: Ed25519PublicSchema, at: TimeSchema })),
});

const sorted = (keys: string[]): boolean => keys.every((k, i) => i === 0 || keys[i - 1]! < k);

const BodySchema = v.strictObject({
  v: v.literal(MEMBERS_VERSION),
  mesh: MeshIdSchema,
  name: NameSchema,
  owner: Ed25519PublicSchema,
  version: U32Schema,
  members: v.pipe(
    v.array(MemberSchema),
    v.maxLength(MAX_MEMBERS),
    v.check((ms) => sorted(ms.map((m) => m.account)), 'members not sorted or duplicated'),
  ),
  invites: v.pipe(
    v.array(InviteSchema),
    v.maxLength(MAX_INVITES),
    v.check((is) => sorted(is.map((i) => i.key)), 'invites not sorted or duplicated'),
  ),
});

export const MemberListSchema = v.strictObject({
  ...BodySchema.entries,
  sig: Ed25519SignatureSchema,
});
export type Member = v.InferOutput<typeof MemberSchema>;
export type Invite = v.InferOutput<typeof InviteSchema>;
export type MemberListBody = v.InferOutput<typeof BodySchema>;
export type MemberList = v.InferOutput<typeof MemberListSchema>;

/** Proof that an account holds an invite's seed: Ed25519 by the invite key. */
export const InviteClaimSchema = v.strictObject({
  v: v.literal(1),
  invite: Ed25519PublicSchema,
  account: Ed25519PublicSchema,
  handle: v.optional(HandleTextSchema),
  sig: Ed25519SignatureSchema,
});
export type InviteClaim = v.InferOutput<typeof InviteClaimSchema>;

export interface AccountSigner {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export function memberListBytes(l: MemberListBody): Uint8Array {
  const w = new CanonicalWriter(MEMBERS_LABEL)
    .u8(l.v)
    .str(l.mesh)
    .str(l.name)
    .fixed(fromBase64Url(l.owner), 32)
    .u32(l.version)
    .u32(l.members.length);
  for (const m of l.members) {
    w.fixed(fromBase64Url(m.account), 32).u8(m.handle === undefined ? 0 : 1);
    if (m.handle !== undefined) w.str(m.handle);
    w.u64(m.added);
  }
  w.u32(l.invites.length);
  for (const i of l.invites) {
    w.fixed(fromBase64Url(i.key), 32)
      .u64(i.issued)
      .u8(i.used ? 1 : 0);
    if (i.used) w.fixed(fromBase64Url(i.used.account), 32).u64(i.used.at);
  }
  return w.done();
}

export function claimBytes(meshId: string, invite: string, account: string, handle?: string) {
  const w = new CanonicalWriter(INVITE_CLAIM_LABEL)
    .u8(1)
    .str(meshId)
    .fixed(fromBase64Url(invite), 32)
    .fixed(fromBase64Url(account), 32)
    .u8(handle === undefined ? 0 : 1);
  if (handle !== undefined) w.str(handle);
  return w.done();
}

export function isMember(list: MemberList, account: string): boolean {
  return account === list.owner || list.members.some((m) => m.account === account);
}

async function sign(owner: AccountSigner, body: MemberListBody): Promise<MemberList> {
  const parsed = v.safeParse(BodySchema, body);
  if (!parsed.success) {
    throw new ArgumentError(`bad member list: ${describeIssues(parsed.issues)}`);
  }
  return { ...parsed.output, sig: toBase64Url(await owner.sign(memberListBytes(parsed.output))) };
}

function checkOwner(owner: AccountSigner, list: MemberList): void {
  if (list.owner !== toBase64Url(owner.publicKey)) {
    throw new ArgumentError('only the owner of a shared mesh changes its member list');
  }
}

const byAccount = (a: Member, b: Member) => (a.account < b.account ? -1 : 1);

/** Version 0 of a new shared mesh: the owner as its only member. */
export function newMemberList(
  owner: AccountSigner,
  o: { meshId: string; name: string; handle?: string; at: number },
): Promise<MemberList> {
  const account = toBase64Url(owner.publicKey);
  return sign(owner, {
    v: MEMBERS_VERSION,
    mesh: o.meshId,
    name: o.name.normalize('NFC').trim(),
    owner: account,
    version: 0,
    members: [{ account, ...(o.handle ? { handle: o.handle } : {}), added: o.at }],
    invites: [],
  });
}

/** The next version with a new invite key (the seed stays with whoever makes the link). */
export function addInvite(
  owner: AccountSigner,
  list: MemberList,
  inviteKey: Uint8Array,
  at: number,
): Promise<MemberList> {
  checkOwner(owner, list);
  const key = toBase64Url(inviteKey);
  if (list.invites.some((i) => i.key === key)) throw new ArgumentError('invite already listed');
  const invites = [...list.invites, { key, issued: at }].sort((a, b) => (a.key < b.key ? -1 : 1));
  return sign(owner, { ...body(list), version: list.version + 1, invites });
}

/** The next version with `claim`'s account as a member and its invite marked used. */
export function acceptClaim(
  owner: AccountSigner,
  list: MemberList,
  claim: InviteClaim,
  at: number,
): Promise<MemberList> {
  checkOwner(owner, list);
  const members = list.members.filter((m) => m.account !== claim.account);
  members.push({
    account: claim.account,
    ...(claim.handle ? { handle: claim.handle } : {}),
    added: at,
  });
  const invites = list.invites.map((i) =>
    i.key === claim.invite ? { ...i, used: { account: claim.account, at } } : i,
  );
  return sign(owner, {
    ...body(list),
    version: list.version + 1,
    members: members.sort(byAccount),
    invites,
  });
}

/** The next version without `account` (its used invites stay used). */
export function removeMember(
  owner: AccountSigner,
  list: MemberList,
  account: string,
): Promise<MemberList> {
  checkOwner(owner, list);
  if (account === list.owner) throw new ArgumentError('the owner cannot be removed');
  if (!list.members.some((m) => m.account === account)) {
    throw new ArgumentError(`account ${account} is not a member of this mesh`);
  }
  const members = list.members.filter((m) => m.account !== account);
  return sign(owner, { ...body(list), version: list.version + 1, members });
}

/** `a` and `b` (same mesh and owner) joined: every member and invite of either, next version. */
export function unionLists(owner: AccountSigner, a: MemberList, b: MemberList) {
  checkOwner(owner, a);
  const members = new Map(a.members.map((m) => [m.account, m]));
  for (const m of b.members) if (!members.has(m.account)) members.set(m.account, m);
  const invites = new Map(a.invites.map((i) => [i.key, i]));
  for (const i of b.invites) if (!invites.get(i.key)?.used) invites.set(i.key, i);
  return sign(owner, {
    ...body(a),
    version: Math.max(a.version, b.version) + 1,
    members: [...members.values()].sort(byAccount),
    invites: [...invites.values()].sort((x, y) => (x.key < y.key ? -1 : 1)),
  });
}

function body(l: MemberList): MemberListBody {
  return {
    v: l.v,
    mesh: l.mesh,
    name: l.name,
    owner: l.owner,
    version: l.version,
    members: l.members,
    invites: l.invites,
  };
}

/** Checks shape, mesh, owner and signature; returns the list or throws `MembersError`. */
export async function verifyMemberList(
  subtle: SubtleCrypto,
  x: unknown,
  expect: { meshId: string; owner: string },
): Promise<MemberList> {
  const list = parseVersioned(x, MemberListSchema, MEMBERS_VERSION, (kind, detail) =>
    kind === 'version'
      ? new MembersError(
          'MEMBERS_VERSION',
          `member list version ${detail} is not supported (expected 1); update WOS`,
        )
      : new MembersError(
          'MEMBERS_MALFORMED',
          `member list is malformed (${detail}); it is ignored`,
        ),
  );
  if (list.mesh !== expect.meshId) {
    throw new MembersError('MEMBERS_WRONG_MESH', 'the member list is for another mesh; ignored');
  }
  if (list.owner !== expect.owner) {
    throw new MembersError(
      'MEMBERS_WRONG_OWNER',
      "the member list names another owner than this mesh's; it is ignored",
    );
  }
  const ok = await ed25519Verify(
    subtle,
    fromBase64Url(list.owner),
    memberListBytes(list),
    fromBase64Url(list.sig),
  );
  if (!ok) {
    throw new MembersError(
      'MEMBERS_BAD_SIGNATURE',
      `member list version ${list.version} is not signed by the mesh's owner; it is ignored`,
    );
  }
  return list;
}

export interface MembersMergeResult {
  readonly list: MemberList;
  readonly changed: boolean;
  /** The incoming list is older than the current one (answer with ours). */
  readonly stale: boolean;
  /** Two different lists of one version: an owner device should sign their union. */
  readonly conflict: boolean;
}

export async function mergeMemberLists(
  subtle: SubtleCrypto,
  expect: { meshId: string; owner: string },
  current: MemberList | undefined,
  incoming: unknown,
): Promise<MembersMergeResult> {
  const next = await verifyMemberList(subtle, incoming, expect);
  const same = { changed: false, stale: false, conflict: false };
  if (!current) return { ...same, list: next, changed: true };
  if (next.version < current.version) return { ...same, list: current, stale: true };
  if (next.version === current.version) {
    const a = fromBase64Url(current.sig);
    const b = fromBase64Url(next.sig);
    if (bytesEqual(a, b)) return { ...same, list: current };
    const nextWins = compareBytes(b, a) > 0;
    return { list: nextWins ? next : current, changed: nextWins, stale: false, conflict: true };
  }
  for (const i of current.invites) {
    if (!i.used) continue;
    const now = next.invites.find((n) => n.key === i.key);
    if (now?.used?.account !== i.used.account) {
      throw new MembersError(
        'MEMBERS_ROLLBACK',
        `member list version ${next.version} forgets that invite ${i.key.slice(0, 8)}… was used; ` +
          'invites are single-use, the list is ignored',
      );
    }
  }
  return { ...same, list: next, changed: true };
}

/** A fresh invite: the seed (for the link) and its public key (for the list). */
export async function newInvite(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
): Promise<{ seed: Uint8Array; publicKey: Uint8Array }> {
  const seed = random(32);
  const { publicKey } = await ed25519FromSeed(subtle, seed);
  return { seed, publicKey };
}

/** The claim an invitee shows in its `hello`: the invite key signs (mesh, invite, account). */
export async function makeInviteClaim(
  subtle: SubtleCrypto,
  o: { meshId: string; seed: Uint8Array; account: string; handle?: string },
): Promise<InviteClaim> {
  const pair = await ed25519FromSeed(subtle, o.seed);
  const invite = toBase64Url(pair.publicKey);
  const sig = await ed25519Sign(
    subtle,
    pair.privateKey,
    claimBytes(o.meshId, invite, o.account, o.handle),
  );
  return {
    v: 1,
    invite,
    account: o.account,
    ...(o.handle ? { handle: o.handle } : {}),
    sig: toBase64Url(sig),
  };
}

/**
 * Checks a claim against the list in force for the account `account` (proven by its
 * certificate): INVITE_MALFORMED, INVITE_WRONG_ACCOUNT, INVITE_UNKNOWN, INVITE_USED,
 * INVITE_BAD_SIGNATURE.
 */
export async function verifyInviteClaim(
  subtle: SubtleCrypto,
  list: MemberList,
  x: unknown,
  account: string,
): Promise<InviteClaim> {
  const r = v.safeParse(InviteClaimSchema, x);
  if (!r.success) {
    throw new MembersError('INVITE_MALFORMED', `invite claim: ${describeIssues(r.issues)}`);
  }
  const c = r.output;
  if (c.account !== account) {
    throw new MembersError(
      'INVITE_WRONG_ACCOUNT',
      "the invite claim names another account than the device's certificate",
    );
  }
  const invite = list.invites.find((i) => i.key === c.invite);
  if (!invite) {
    throw new MembersError(
      'INVITE_UNKNOWN',
      `this invite is not (or not yet) in the member list of "${list.name}"; ask for a new link`,
    );
  }
  if (invite.used && invite.used.account !== account) {
    throw new MembersError(
      'INVITE_USED',
      `this invite to "${list.name}" was already used by another account; ask for a new link`,
    );
  }
  if (invite.used) {
    throw new MembersError(
      'INVITE_USED',
      `this invite to "${list.name}" was used by this account, which is no longer a member`,
    );
  }
  const ok = await ed25519Verify(
    subtle,
    fromBase64Url(c.invite),
    claimBytes(list.mesh, c.invite, c.account, c.handle),
    fromBase64Url(c.sig),
  );
  if (!ok) {
    throw new MembersError(
      'INVITE_BAD_SIGNATURE',
      'the invite claim is not signed by the invite key',
    );
  }
  return c;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
