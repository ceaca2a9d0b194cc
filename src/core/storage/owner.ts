import { fromBase64Url, toBase64Url, utf8 } from '../bytes.ts';
import { verifySignature } from '../identity.ts';

/**
 * Who owns a file, as holders see it: a signing key (ECDSA P-256 through WebCrypto today: the
 * device identity satisfies `OwnerSigner`; an account key once accounts exist). Holders bind a
 * file id to the key of its first write and then accept manifests and deletes only when signed
 * by that key. Holders never see the storage key; they see a listing tag derived from it, so a
 * tab with the same storage key can ask for "my files" without learning anything else.
 */
export interface OwnerSigner {
  /** Raw public key (P-256: 65 bytes). */
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Checks a signature by `publicKey` over `data`; never throws (false on any malformed input). */
export type VerifyFn = (
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
) => Promise<boolean>;

/** ECDSA P-256 / SHA-256 verification through WebCrypto (what `DeviceIdentity.sign` makes). */
export function ecdsaVerifier(subtle: SubtleCrypto): VerifyFn {
  return (pub, data, sig) => verifySignature(subtle, pub, data, sig);
}

const DELETE_LABEL = 'wos/st/delete/v1|';
export const MANIFEST_LABEL = 'wos/st/manifest/v1|';
const LIST_TAG_INFO = 'wos/storage/v1/list-tag';

export function deleteSigningBytes(file: string): Uint8Array {
  return utf8(`${DELETE_LABEL}${file}`);
}

/** The owner's signed delete of a whole file: base64url signature. */
export async function signDelete(owner: OwnerSigner, file: string): Promise<string> {
  return toBase64Url(await owner.sign(deleteSigningBytes(file)));
}

/** Decodes base64url without throwing (undefined if malformed). */
export function tryFromB64(s: string): Uint8Array | undefined {
  try {
    return fromBase64Url(s);
  } catch {
    return undefined;
  }
}

/** Whether `sig` is `owner`'s signature (all base64url) over `data`. */
export async function verifyB64(
  verify: VerifyFn,
  owner: string,
  data: Uint8Array,
  sig: string,
): Promise<boolean> {
  const pub = tryFromB64(owner);
  const s = tryFromB64(sig);
  if (!pub || !s) return false;
  return verify(pub, data, s);
}

export function verifyDelete(
  verify: VerifyFn,
  owner: string,
  file: string,
  sig: string,
): Promise<boolean> {
  return verifyB64(verify, owner, deleteSigningBytes(file), sig);
}

/** The listing tag of a storage root key: 16 bytes (base64url), the same on every device. */
export async function deriveListTag(subtle: SubtleCrypto, root: CryptoKey): Promise<string> {
  const params = {
    name: 'HKDF',
    hash: 'SHA-256',
    salt: new Uint8Array(0) as BufferSource,
    info: utf8(LIST_TAG_INFO) as BufferSource,
  };
  return toBase64Url(new Uint8Array(await subtle.deriveBits(params, root, 128)));
}
