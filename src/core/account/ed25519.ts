import { concatBytes, fromBase64Url, toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { verifySignature } from '../identity.ts';
import type { VerifyFn } from '../storage/owner.ts';

/**
 * Ed25519 (RFC 8032) through WebCrypto (Node ≥ 20, Chromium ≥ 137): a 32-byte seed is imported
 * as PKCS#8, the public key read back once, and the signing key kept non-extractable.
 */
export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** PKCS#8 PrivateKeyInfo prefix for an Ed25519 seed (RFC 8410, section 7). */
const PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
);

export interface Ed25519KeyPair {
  /** Non-extractable signing key. */
  readonly privateKey: CryptoKey;
  /** Raw public key, 32 bytes. */
  readonly publicKey: Uint8Array;
}

export async function ed25519FromSeed(
  subtle: SubtleCrypto,
  seed: Uint8Array,
): Promise<Ed25519KeyPair> {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new ArgumentError(`an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  }
  const pkcs8 = concatBytes(PKCS8_PREFIX, seed) as BufferSource;
  // Extractable only long enough to read the public key (JWK `x`), then dropped.
  const tmp = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await subtle.exportKey('jwk', tmp);
  if (typeof jwk.x !== 'string') throw new ArgumentError('Ed25519 JWK export has no public key');
  const privateKey = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  return { privateKey, publicKey: fromBase64Url(jwk.x) };
}

export async function ed25519Sign(
  subtle: SubtleCrypto,
  privateKey: CryptoKey,
  data: Uint8Array,
): Promise<Uint8Array> {
  return new Uint8Array(await subtle.sign({ name: 'Ed25519' }, privateKey, data as BufferSource));
}

/** Whether `signature` is valid; never throws (false on malformed keys or signatures). */
export async function ed25519Verify(
  subtle: SubtleCrypto,
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== ED25519_PUBLIC_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) {
    return false;
  }
  try {
    const key = await subtle.importKey(
      'jwk',
      { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(publicKey) },
      { name: 'Ed25519' },
      false,
      ['verify'],
    );
    return await subtle.verify(
      { name: 'Ed25519' },
      key,
      signature as BufferSource,
      data as BufferSource,
    );
  } catch {
    return false;
  }
}

/**
 * A storage `VerifyFn` (storage/owner.ts) that accepts both owner kinds: a 32-byte key is an
 * account (Ed25519), a 65-byte key a device (ECDSA P-256). Pass it as `verify` to the storage
 * service once files are owned by accounts.
 */
export function ownerVerifier(subtle: SubtleCrypto): VerifyFn {
  return (pub, data, sig) =>
    pub.length === ED25519_PUBLIC_BYTES
      ? ed25519Verify(subtle, pub, data, sig)
      : verifySignature(subtle, pub, data, sig);
}
