import * as v from 'valibot';
import { concatBytes, fromUtf8, toBase64Url, utf8 } from '../bytes.ts';
import { describeIssues } from '../wire.ts';
import { openMeta, sealMeta, TAG_BYTES } from './cipher.ts';
import { deriveFileKeys, type FileKeys } from './keys.ts';
import { MAX_EPOCH, rootOfEpoch, type StorageKeyRing } from './key-ring.ts';
import { MANIFEST_LABEL, tryFromB64, verifyB64, type OwnerSigner, type VerifyFn } from './owner.ts';
import { BadManifestError, NotOwnerError } from './service-errors.ts';
import type { SignedManifest } from './shard-store.ts';
import { shardSizeFor } from './stripe.ts';
import {
  FileIdSchema,
  HashSchema,
  PubKeySchema,
  StoreIdSchema,
  TagSchema,
} from './storage-protocol.ts';
import { WrongKeyOrCorruptError } from './storage-errors.ts';

/**
 * A file's manifest, version 1: the owner-signed JSON text that says how to get the file back.
 *
 * In the clear (holders read it to check hashes, know which shards are theirs and drop the
 * rest): file id, revision, owner key, listing tag, the storage epoch whose root the file's
 * keys and the tag derive from (absent for epoch 0, so older manifests stay valid), (k, n),
 * the store ids, and per stripe the sealed shard size and each shard's SHA-256 and store. Sealed with the file's meta key
 * (AES-256-GCM, padded): the name, type, exact size, stripe length, times, and a copy of the
 * owner key and revision (so a manifest cannot be re-signed by another key or replayed as a
 * different revision). The signature covers the exact text; readers take the highest valid
 * revision.
 *
 * Stripe s holds plaintext bytes [s·stripeBytes, …) of the file; it is cut into k equal pieces,
 * each sealed as content chunk s·k + i (cipher.ts), which are the k data shards; the n − k
 * parity shards are Reed-Solomon parity over them. A 0-byte file has one empty stripe.
 */
const int = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

export const MAX_STRIPES = 1 << 22;
export const MAX_STRIPE_BYTES = 64 * 1024 * 1024;

export const StripeLayoutSchema = v.strictObject({
  /** Bytes of every shard of the stripe (a sealed piece: ⌈len / k⌉ + 16). */
  size: int(TAG_BYTES + 1, MAX_STRIPE_BYTES + TAG_BYTES),
  /** Per shard index: [SHA-256, index into `stores`]. */
  shards: v.pipe(v.array(v.tuple([HashSchema, int(0, 4095)])), v.maxLength(256)),
});

export const ManifestBodySchema = v.pipe(
  v.strictObject({
    v: v.literal(1),
    file: FileIdSchema,
    rev: int(1, 2 ** 31 - 1),
    owner: PubKeySchema,
    tag: TagSchema,
    /** Storage epoch (key-ring.ts); written only when ≥ 1, absent means 0. */
    epoch: v.optional(int(0, MAX_EPOCH)),
    k: int(1, 255),
    n: int(2, 256),
    stores: v.pipe(v.array(StoreIdSchema), v.maxLength(4096)),
    stripes: v.pipe(v.array(StripeLayoutSchema), v.minLength(1), v.maxLength(MAX_STRIPES)),
    meta: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]*$/), v.maxLength(65536)),
  }),
  v.check((b) => b.k < b.n, 'k must be below n'),
  v.check(
    (b) =>
      b.stripes.every(
        (s) => s.shards.length === b.n && s.shards.every(([, at]) => at < b.stores.length),
      ),
    'every stripe lists n shards on listed stores',
  ),
);

export const ManifestMetaSchema = v.strictObject({
  v: v.literal(1),
  owner: PubKeySchema,
  rev: int(1, 2 ** 31 - 1),
  name: v.pipe(v.string(), v.maxLength(4096)),
  type: v.pipe(v.string(), v.maxLength(255)),
  size: int(0, Number.MAX_SAFE_INTEGER),
  stripeBytes: int(1, MAX_STRIPE_BYTES),
  created: v.number(),
});

export type ManifestBody = v.InferOutput<typeof ManifestBodySchema>;
export type StripeLayout = v.InferOutput<typeof StripeLayoutSchema>;
export type ManifestMeta = v.InferOutput<typeof ManifestMetaSchema>;

/** A manifest this node could verify and open. */
export interface Manifest {
  readonly body: ManifestBody;
  readonly meta: ManifestMeta;
  readonly signed: SignedManifest;
  readonly keys: FileKeys;
}

/** The storage epoch a manifest was written under. */
export function epochOf(body: ManifestBody): number {
  return body.epoch ?? 0;
}

export function stripeCount(size: number, stripeBytes: number): number {
  return Math.max(1, Math.ceil(size / stripeBytes));
}

/** Plaintext bytes of stripe `s`. */
export function stripeLength(meta: ManifestMeta, s: number): number {
  return Math.max(0, Math.min(meta.stripeBytes, meta.size - s * meta.stripeBytes));
}

/** Bytes of each shard of a stripe holding `length` plaintext bytes. */
export function sealedShardSize(length: number, k: number): number {
  return shardSizeFor(length, k) + TAG_BYTES;
}

export function manifestSigningBytes(m: string): Uint8Array {
  return concatBytes(utf8(MANIFEST_LABEL), utf8(m));
}

export async function signManifest(
  body: ManifestBody,
  owner: OwnerSigner,
): Promise<SignedManifest> {
  const m = JSON.stringify(body);
  return { m, sig: toBase64Url(await owner.sign(manifestSigningBytes(m))) };
}

/**
 * Of two different manifests of one revision of a file (two devices of its owner re-signed it
 * at once), whether `a` is the one every holder keeps and every reader takes: the one whose
 * signature sorts first. Any fixed rule would do; all nodes must use the same.
 */
export function winsSameRevision(a: SignedManifest, b: SignedManifest): boolean {
  return a.sig < b.sig;
}

/** Parses the text (schema only; no signature check). */
export function parseManifest(signed: SignedManifest): ManifestBody {
  let json: unknown;
  try {
    json = JSON.parse(signed.m);
  } catch {
    throw new BadManifestError('not JSON');
  }
  const r = v.safeParse(ManifestBodySchema, json);
  if (!r.success) throw new BadManifestError(describeIssues(r.issues));
  return r.output;
}

/** Parses and checks the signature, by `owner` if given (a holder's bound key), else by the key it names. */
export async function verifyManifest(
  signed: SignedManifest,
  verify: VerifyFn,
  owner?: string,
): Promise<ManifestBody> {
  const body = parseManifest(signed);
  if (owner !== undefined && body.owner !== owner) {
    throw new NotOwnerError(`file ${body.file} belongs to another key`);
  }
  if (!(await verifyB64(verify, body.owner, manifestSigningBytes(signed.m), signed.sig))) {
    throw new BadManifestError(`the signature on file ${body.file} rev ${body.rev} is invalid`);
  }
  return body;
}

export async function sealManifestMeta(
  subtle: SubtleCrypto,
  keys: FileKeys,
  random: (n: number) => Uint8Array,
  meta: ManifestMeta,
): Promise<string> {
  return toBase64Url(await sealMeta(subtle, keys, random, 'manifest', utf8(JSON.stringify(meta))));
}

/**
 * Verifies, derives the file's keys from the storage root and opens the sealed part. With a
 * key ring the root is that of the epoch the manifest names (EPOCH_KEY_MISSING if the ring
 * lacks it); a bare root key is used as it is. A wrong storage key gives WRONG_KEY_OR_CORRUPT;
 * a forged or inconsistent manifest BAD_MANIFEST.
 */
export async function openManifest(
  subtle: SubtleCrypto,
  root: CryptoKey | StorageKeyRing,
  signed: SignedManifest,
  verify: VerifyFn,
): Promise<Manifest> {
  const body = await verifyManifest(signed, verify);
  const key = 'current' in root ? rootOfEpoch(root, epochOf(body), body.file).root : root;
  const keys = await deriveFileKeys(subtle, key, fileIdBytes(body.file));
  return openVerified(subtle, keys, signed, body);
}

/**
 * Like `openManifest`, with the file version's keys instead of the storage root (a share link's
 * reader): the signature is checked against the owner key the manifest names, and the manifest
 * must be of the keys' file id.
 */
export async function openManifestWithKeys(
  subtle: SubtleCrypto,
  keys: FileKeys,
  signed: SignedManifest,
  verify: VerifyFn,
): Promise<Manifest> {
  const body = await verifyManifest(signed, verify);
  if (body.file !== toBase64Url(keys.fileId)) {
    throw new BadManifestError(`manifest of file ${body.file}, not of the file asked for`);
  }
  return openVerified(subtle, keys, signed, body);
}

async function openVerified(
  subtle: SubtleCrypto,
  keys: FileKeys,
  signed: SignedManifest,
  body: ManifestBody,
): Promise<Manifest> {
  const sealed = tryFromB64(body.meta);
  if (!sealed) throw new BadManifestError('sealed part is not base64url');
  const plain = await openMeta(subtle, keys, 'manifest', sealed);
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(plain));
  } catch {
    throw new WrongKeyOrCorruptError("the file's manifest");
  }
  const r = v.safeParse(ManifestMetaSchema, json);
  if (!r.success) throw new BadManifestError(`sealed part: ${describeIssues(r.issues)}`);
  const meta = r.output;
  if (meta.owner !== body.owner || meta.rev !== body.rev) {
    throw new BadManifestError('the sealed owner or revision differs from the signed one');
  }
  checkLayout(body, meta);
  return { body, meta, signed, keys };
}

function checkLayout(body: ManifestBody, meta: ManifestMeta): void {
  const count = stripeCount(meta.size, meta.stripeBytes);
  if (body.stripes.length !== count) {
    throw new BadManifestError(`${body.stripes.length} stripes listed, ${count} expected`);
  }
  body.stripes.forEach((s, i) => {
    const want = sealedShardSize(stripeLength(meta, i), body.k);
    if (s.size !== want) throw new BadManifestError(`stripe ${i} shard size ${s.size} ≠ ${want}`);
  });
}

export function fileIdBytes(file: string): Uint8Array {
  const b = tryFromB64(file);
  if (!b || b.length !== 16) throw new BadManifestError(`file id ${file} is not 16 bytes`);
  return b;
}
