import * as v from 'valibot';
import { bytesEqual, fromBase64Url, toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { describeIssues } from '../wire.ts';
import { RevocationError } from './account-errors.ts';
import { CanonicalWriter } from './canonical.ts';
import { ed25519Verify } from './ed25519.ts';
import {
  DeviceIdSchema,
  Ed25519PublicSchema,
  Ed25519SignatureSchema,
  TimeSchema,
  U32Schema,
  parseVersioned,
} from './schemas.ts';

/**
 * The account's revocation list: every device id ever revoked, signed by the account key and
 * versioned. `version` grows by one with every change; `epoch` is the storage key epoch in force
 * after this list (each revocation starts a new one, see epoch-keys.ts). JSON form:
 *
 *   { v: 1, account, version, epoch, revoked: [{ device, at }], sig }
 *
 * `revoked` is sorted by device id without duplicates. Merge rule: a list replaces the current
 * one only when its signature checks, its version is higher, it still revokes every device the
 * current one does and its epoch is not lower (else REVOCATION_ROLLBACK). Two different lists of
 * the same version (two devices revoked at once) are a fork: the winner is the one with more
 * entries, then the larger signature, and `conflict` tells a device holding the account key to
 * sign the union as the next version.
 */
export const REVOCATION_VERSION = 1;
export const REVOCATION_LABEL = 'wos/v1/revocations';
const MAX_REVOKED = 4096;

const EntrySchema = v.strictObject({ device: DeviceIdSchema, at: TimeSchema });

const BodySchema = v.strictObject({
  v: v.literal(REVOCATION_VERSION),
  account: Ed25519PublicSchema,
  version: U32Schema,
  epoch: U32Schema,
  revoked: v.pipe(
    v.array(EntrySchema),
    v.maxLength(MAX_REVOKED),
    v.check(
      (es) => es.every((e, i) => i === 0 || es[i - 1]!.device < e.device),
      'not sorted by device id',
    ),
  ),
});

export const RevocationListSchema = v.strictObject({
  ...BodySchema.entries,
  sig: Ed25519SignatureSchema,
});
export type RevocationEntry = v.InferOutput<typeof EntrySchema>;
export type RevocationBody = v.InferOutput<typeof BodySchema>;
export type RevocationList = v.InferOutput<typeof RevocationListSchema>;

export function revocationBytes(r: RevocationBody): Uint8Array {
  const w = new CanonicalWriter(REVOCATION_LABEL)
    .u8(r.v)
    .fixed(fromBase64Url(r.account), 32)
    .u32(r.version)
    .u32(r.epoch)
    .u32(r.revoked.length);
  for (const e of r.revoked) w.str(e.device).u64(e.at);
  return w.done();
}

export function isRevoked(list: RevocationList, deviceId: string): boolean {
  return list.revoked.some((e) => e.device === deviceId);
}

interface AccountSigner {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

async function sign(account: AccountSigner, body: RevocationBody): Promise<RevocationList> {
  return { ...body, sig: toBase64Url(await account.sign(revocationBytes(body))) };
}

/** Version 0: nothing revoked, storage epoch 0 (what a new account starts with). */
export function emptyRevocations(account: AccountSigner): Promise<RevocationList> {
  return sign(account, {
    v: REVOCATION_VERSION,
    account: toBase64Url(account.publicKey),
    version: 0,
    epoch: 0,
    revoked: [],
  });
}

/**
 * The next list: `devices` added (already revoked ones keep their time), version + 1 and
 * epoch + 1; `current` itself when every device in `devices` is already revoked.
 */
export function revokeDevices(
  account: AccountSigner,
  current: RevocationList,
  devices: readonly string[],
  at: number,
): Promise<RevocationList> {
  if (current.account !== toBase64Url(account.publicKey)) {
    throw new ArgumentError('the current revocation list belongs to another account');
  }
  const byId = new Map(current.revoked.map((e) => [e.device, e]));
  const fresh = devices.filter((d) => !byId.has(d));
  if (fresh.length === 0) return Promise.resolve(current); // nothing new: no new version or epoch
  for (const d of fresh) byId.set(d, { device: d, at });
  const revoked = [...byId.values()].sort((a, b) => (a.device < b.device ? -1 : 1));
  const parsed = v.safeParse(BodySchema, {
    v: current.v,
    account: current.account,
    version: current.version + 1,
    epoch: current.epoch + 1,
    revoked,
  });
  if (!parsed.success) throw new ArgumentError(`bad revocation: ${describeIssues(parsed.issues)}`);
  return sign(account, parsed.output);
}

/** Checks shape, account and signature; returns the list or throws `RevocationError`. */
export async function verifyRevocations(
  subtle: SubtleCrypto,
  x: unknown,
  accountPublicKey: Uint8Array,
): Promise<RevocationList> {
  const list = parseVersioned(x, RevocationListSchema, REVOCATION_VERSION, (kind, detail) =>
    kind === 'version'
      ? new RevocationError(
          'REVOCATION_VERSION',
          `revocation list version ${detail} is not supported (expected 1); update WOS`,
        )
      : new RevocationError(
          'REVOCATION_MALFORMED',
          `revocation list is malformed (${detail}); it is ignored`,
        ),
  );
  if (list.account !== toBase64Url(accountPublicKey)) {
    throw new RevocationError(
      'REVOCATION_WRONG_ACCOUNT',
      'the revocation list belongs to another account; it is ignored',
    );
  }
  if (
    !(await ed25519Verify(subtle, accountPublicKey, revocationBytes(list), fromBase64Url(list.sig)))
  ) {
    throw new RevocationError(
      'REVOCATION_BAD_SIGNATURE',
      `revocation list version ${list.version} is not signed by the account key; it is ignored`,
    );
  }
  return list;
}

export interface MergeResult {
  /** The list now in force. */
  readonly list: RevocationList;
  /** Whether it differs from `current`. */
  readonly changed: boolean;
  /** Two different lists of the same version were seen: sign their union as the next version. */
  readonly conflict: boolean;
}

/** Merges a received list into `current` (verified, or undefined when there is none yet). */
export async function mergeRevocations(
  subtle: SubtleCrypto,
  accountPublicKey: Uint8Array,
  current: RevocationList | undefined,
  incoming: unknown,
): Promise<MergeResult> {
  const next = await verifyRevocations(subtle, incoming, accountPublicKey);
  if (!current) return { list: next, changed: true, conflict: false };
  if (next.version < current.version) return { list: current, changed: false, conflict: false };
  if (next.version === current.version) {
    const a = fromBase64Url(current.sig);
    const b = fromBase64Url(next.sig);
    if (bytesEqual(a, b)) return { list: current, changed: false, conflict: false };
    const nextWins =
      next.revoked.length !== current.revoked.length
        ? next.revoked.length > current.revoked.length
        : compareBytes(b, a) > 0;
    return { list: nextWins ? next : current, changed: nextWins, conflict: true };
  }
  const dropped = current.revoked.find((e) => !isRevoked(next, e.device));
  if (dropped || next.epoch < current.epoch) {
    throw new RevocationError(
      'REVOCATION_ROLLBACK',
      `revocation list version ${next.version} ` +
        (dropped ? `un-revokes device ${dropped.device}` : 'lowers the storage epoch') +
        '; revocations are permanent, the list is ignored',
    );
  }
  return { list: next, changed: true, conflict: false };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
