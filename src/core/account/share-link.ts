import { bytesEqual, concatBytes, fromBase64Url, toBase64Url, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { checkMeshKey, sha256 } from '../identity.ts';
import { checkFileId, FILE_ID_BYTES, type FileKeys } from '../storage/keys.ts';
import { ShareLinkError } from './account-errors.ts';
import { hkdfBytes, importHkdfKey } from './kdf.ts';

/**
 * The share link code of `…/#/s/<code>`: base64url (no padding) of
 *
 *   u8  version (2; 1 is still read, see below)
 *   u8  flags: bit 0 expiry present, bit 1 mesh key present; other bits 0
 *   16  file id                 (storage/keys.ts)
 *   8   share id                (random; the owner revokes and counts by it)
 *   32  content key             (raw AES-256 key of the file version)
 *   32  meta key                (raw AES-256 key of its name and metadata)
 *   16  owner                   (v2 only: shareOwnerHash of the manifest-signing public key)
 *   32  mesh key                (if bit 1: a shared mesh to join instead of the rendezvous)
 *   4   expiry                  (if bit 0: u32 seconds since 1970)
 *   8   check = HMAC-SHA-256(macKey, all bytes before)[0..8]
 *
 * with L = HKDF-SHA-256 base key over content key ‖ meta key, and
 *   macKey     = HKDF(L, salt = "", "wos/v<version>/share-mac", 32)
 *   rendezvous = base64url(HKDF(L, salt = share id, "wos/v1/share-rendezvous", 32))  (a mesh key;
 *                the same for both versions: the owner's record does not say which it issued)
 *
 * v2: 114 bytes = 152 characters; with expiry 158; with a mesh key 195/200 (v1: 131/136/174/179).
 * The link holds the two per-file keys a reader needs, never the storage root. The check
 * catches damage and tampering by anyone without the file keys; a holder of the link could
 * re-sign an edited link, so expiry and download limits are enforced by the owner's devices
 * from their record of the share id — the expiry in the link lets a reader fail early with
 * SHARE_LINK_EXPIRED.
 *
 * The owner field (v2) names who must have signed the manifest the guest is served: another
 * holder of the link has the keys and could serve other content sealed with them, but cannot
 * sign as the owner. A hash rather than the key keeps the link short and the same length for
 * both owner key kinds (Ed25519 account keys, 32 bytes; ECDSA P-256 device keys, 65); 128 bits
 * leave a second preimage (a key of one's own hashing to the owner's) out of reach.
 * v1 links (no owner field) are still read so that links already sent keep working, but the
 * guest cannot check who serves them; new links are always v2.
 */
export const SHARE_LINK_VERSION = 2;
/** The oldest version still read. */
export const SHARE_LINK_OLDEST_VERSION = 1;
export const SHARE_ID_BYTES = 8;
export const SHARE_OWNER_BYTES = 16;
const FLAG_EXPIRY = 1;
const FLAG_MESH = 2;
const KEY_BYTES = 32;
const CHECK_BYTES = 8;
const HEAD_V1 = 2 + FILE_ID_BYTES + SHARE_ID_BYTES + 2 * KEY_BYTES;
export const SHARE_MAC_INFO_V1 = 'wos/v1/share-mac';
export const SHARE_MAC_INFO = 'wos/v2/share-mac';
export const SHARE_RENDEZVOUS_INFO = 'wos/v1/share-rendezvous';
export const SHARE_OWNER_LABEL = 'wos/v2/share-owner|';

/**
 * The 16-byte owner field of a v2 link: SHA-256("wos/v2/share-owner|" ‖ raw public key)[0..16],
 * of the key that signs the file's manifests (the manifest's `owner`, base64url).
 */
export async function shareOwnerHash(subtle: SubtleCrypto, ownerKey: string): Promise<Uint8Array> {
  let raw: Uint8Array;
  try {
    raw = fromBase64Url(ownerKey);
  } catch {
    throw new ArgumentError('the owner key is not base64url');
  }
  if (raw.length === 0) throw new ArgumentError('the owner key is empty');
  return (await sha256(subtle, concatBytes(utf8(SHARE_OWNER_LABEL), raw))).slice(
    0,
    SHARE_OWNER_BYTES,
  );
}

export interface ShareLinkInput {
  /** The file version's keys, derived with `{ extractable: true }`. */
  readonly keys: FileKeys;
  /** The public key that signs the file's manifests (the manifest's `owner`, base64url). */
  readonly owner: string;
  readonly shareId: Uint8Array;
  /** Join this mesh (e.g. a shared household mesh) instead of the share's rendezvous mesh. */
  readonly meshKey?: string | undefined;
  /** Milliseconds since 1970; stored rounded down to the second. */
  readonly expiresAt?: number | undefined;
}

export interface ShareLink {
  /** 2, or 1 for a link made before owners were named (no owner check possible). */
  readonly version: 1 | 2;
  readonly fileId: Uint8Array;
  readonly shareId: Uint8Array;
  /** Non-extractable AES-256-GCM keys for storage/cipher.ts. */
  readonly keys: FileKeys;
  /** The mesh to join: the share's rendezvous mesh, or the mesh key the link names. */
  readonly meshKey: string;
  readonly rendezvous: boolean;
  readonly expiresAt?: number | undefined;
  /** v2: shareOwnerHash of the key that must have signed the manifest; v1: undefined. */
  readonly owner?: Uint8Array | undefined;
}

async function linkBase(
  subtle: SubtleCrypto,
  content: Uint8Array,
  meta: Uint8Array,
): Promise<CryptoKey> {
  return importHkdfKey(subtle, concatBytes(content, meta));
}

async function checkOf(
  subtle: SubtleCrypto,
  base: CryptoKey,
  body: Uint8Array,
): Promise<Uint8Array> {
  // Each version its own MAC key (the version byte is MACed too; this only separates domains).
  const info = body[0] === 1 ? SHARE_MAC_INFO_V1 : SHARE_MAC_INFO;
  const raw = await hkdfBytes(subtle, base, info, 32);
  const mac = await subtle.importKey(
    'raw',
    raw as BufferSource,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return new Uint8Array(await subtle.sign('HMAC', mac, body as BufferSource)).slice(0, CHECK_BYTES);
}

async function rendezvousOf(
  subtle: SubtleCrypto,
  base: CryptoKey,
  shareId: Uint8Array,
): Promise<string> {
  return toBase64Url(await hkdfBytes(subtle, base, SHARE_RENDEZVOUS_INFO, 32, shareId));
}

/** The rendezvous mesh key of a share (what the owner's serving devices join). */
export async function shareRendezvousKey(
  subtle: SubtleCrypto,
  keys: FileKeys,
  shareId: Uint8Array,
): Promise<string> {
  const [c, m] = await Promise.all([
    subtle.exportKey('raw', keys.content),
    subtle.exportKey('raw', keys.meta),
  ]);
  return rendezvousOf(
    subtle,
    await linkBase(subtle, new Uint8Array(c), new Uint8Array(m)),
    shareId,
  );
}

/** Encodes a share link code (the part after `#/s/`). */
export async function encodeShareLink(
  subtle: SubtleCrypto,
  input: ShareLinkInput,
): Promise<string> {
  checkFileId(input.keys.fileId);
  if (input.shareId.length !== SHARE_ID_BYTES)
    throw new ArgumentError(`a share id is ${SHARE_ID_BYTES} bytes`);
  const [c, m] = await Promise.all([
    subtle.exportKey('raw', input.keys.content),
    subtle.exportKey('raw', input.keys.meta),
  ]);
  const content = new Uint8Array(c);
  const meta = new Uint8Array(m);
  let flags = 0;
  const owner = await shareOwnerHash(subtle, input.owner);
  const parts = [input.keys.fileId, input.shareId, content, meta, owner];
  if (input.meshKey !== undefined) {
    flags |= FLAG_MESH;
    parts.push(fromBase64Url(checkMeshKey(input.meshKey)));
  }
  if (input.expiresAt !== undefined) {
    const s = Math.floor(input.expiresAt / 1000);
    if (!Number.isSafeInteger(s) || s < 0 || s >= 2 ** 32)
      throw new ArgumentError('expiresAt is out of range');
    flags |= FLAG_EXPIRY;
    parts.push(Uint8Array.of(s >>> 24, (s >>> 16) & 255, (s >>> 8) & 255, s & 255));
  }
  const body = concatBytes(Uint8Array.of(SHARE_LINK_VERSION, flags), ...parts);
  const check = await checkOf(subtle, await linkBase(subtle, content, meta), body);
  return toBase64Url(concatBytes(body, check));
}

/** The code from a full link (`https://host/#/s/<code>`), a fragment (`#/s/<code>`) or the code. */
export function shareCodeOf(input: string): string {
  const t = input.trim();
  const at = t.indexOf('#/s/');
  return at >= 0 ? t.slice(at + 4) : t;
}

function fail(
  code: 'SHARE_LINK_MALFORMED' | 'SHARE_LINK_TRUNCATED' | 'SHARE_LINK_TAMPERED',
  detail: string,
): never {
  const advice =
    code === 'SHARE_LINK_TRUNCATED'
      ? 'copy the whole link again'
      : 'ask the sender for the link again';
  throw new ShareLinkError(code, `this share link cannot be used: ${detail}; ${advice}`);
}

/**
 * Decodes and checks a share link (full link or code); `now` (ms) enables the expiry check.
 * Throws `ShareLinkError` with a specific code for each kind of damage.
 */
export async function decodeShareLink(
  subtle: SubtleCrypto,
  input: string,
  now?: number,
): Promise<ShareLink> {
  const code = shareCodeOf(input);
  if (code.length === 0) fail('SHARE_LINK_TRUNCATED', 'the code is empty');
  if (!/^[A-Za-z0-9_-]+$/.test(code))
    fail('SHARE_LINK_MALFORMED', 'it holds characters a link code never has');
  // A code cut after a multiple of 4 characters plus one is incomplete, not foreign.
  const bytes = fromBase64Url(code.length % 4 === 1 ? code.slice(0, -1) : code);
  if (bytes.length === 0) fail('SHARE_LINK_TRUNCATED', 'it ends before the version');
  const version = bytes[0]!;
  if (version !== 1 && version !== 2) {
    throw new ShareLinkError(
      'SHARE_LINK_VERSION',
      `share link version ${version} is not supported (this WOS reads versions ` +
        `${SHARE_LINK_OLDEST_VERSION}–${SHARE_LINK_VERSION}); update WOS or ask for a new link`,
    );
  }
  if (bytes.length < 2) fail('SHARE_LINK_TRUNCATED', 'it ends after the version');
  const flags = bytes[1]!;
  if ((flags & ~(FLAG_EXPIRY | FLAG_MESH)) !== 0)
    fail('SHARE_LINK_MALFORMED', `unknown flags 0x${flags.toString(16)}`);
  const hasMesh = (flags & FLAG_MESH) !== 0;
  const hasExpiry = (flags & FLAG_EXPIRY) !== 0;
  const head = HEAD_V1 + (version === 2 ? SHARE_OWNER_BYTES : 0);
  const length = head + (hasMesh ? KEY_BYTES : 0) + (hasExpiry ? 4 : 0) + CHECK_BYTES;
  if (code.length % 4 === 1 && bytes.length >= length) {
    fail('SHARE_LINK_MALFORMED', 'it has a character too many at the end');
  }
  if (code.length % 4 === 1 || bytes.length < length) {
    fail('SHARE_LINK_TRUNCATED', `it has ${bytes.length} of its ${length} bytes`);
  }
  if (bytes.length > length)
    fail('SHARE_LINK_MALFORMED', `${bytes.length - length} bytes too many`);
  if (toBase64Url(bytes) !== code) fail('SHARE_LINK_TAMPERED', 'its last character was altered');
  let o = 2;
  const take = (n: number): Uint8Array => bytes.slice(o, (o += n));
  const fileId = take(FILE_ID_BYTES);
  const shareId = take(SHARE_ID_BYTES);
  const content = take(KEY_BYTES);
  const meta = take(KEY_BYTES);
  const owner = version === 2 ? take(SHARE_OWNER_BYTES) : undefined;
  const mesh = hasMesh ? take(KEY_BYTES) : undefined;
  const exp = hasExpiry ? take(4) : undefined;
  const base = await linkBase(subtle, content, meta);
  const check = await checkOf(subtle, base, bytes.subarray(0, o));
  if (!bytesEqual(check, bytes.subarray(o)))
    fail('SHARE_LINK_TAMPERED', 'its check does not match (altered or damaged)');
  const expiresAt = exp
    ? (((exp[0]! << 24) >>> 0) + (exp[1]! << 16) + (exp[2]! << 8) + exp[3]!) * 1000
    : undefined;
  if (expiresAt !== undefined && now !== undefined && now >= expiresAt) {
    throw new ShareLinkError(
      'SHARE_LINK_EXPIRED',
      `this share link expired on ${new Date(expiresAt).toISOString()}; ask the owner for a new one`,
    );
  }
  const aes = (raw: Uint8Array): Promise<CryptoKey> =>
    subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['decrypt']);
  const [contentKey, metaKey] = await Promise.all([aes(content), aes(meta)]);
  return {
    version,
    fileId,
    shareId,
    keys: { fileId: fileId.slice(), content: contentKey, meta: metaKey },
    meshKey: mesh ? toBase64Url(mesh) : await rendezvousOf(subtle, base, shareId),
    rendezvous: !mesh,
    expiresAt,
    owner,
  };
}
