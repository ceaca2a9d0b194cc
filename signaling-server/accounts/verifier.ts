import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Bytes of the per-record random salt of the login verifier. */
export const VERIFIER_SALT_BYTES = 16;

export interface Verifier {
  salt: Buffer;
  hash: Buffer;
}

/**
 * What the server keeps instead of the login key: HMAC-SHA-256 under a fresh random per-record
 * salt, so equal keys give unrelated verifiers. The login key itself comes out of scrypt on the
 * client, so guessing a passphrase from a verifier still costs one scrypt per guess.
 */
export function makeVerifier(loginKey: Uint8Array): Verifier {
  const salt = randomBytes(VERIFIER_SALT_BYTES);
  return { salt, hash: verifierHash(salt, loginKey) };
}

/** Constant-time check of `loginKey` against a stored verifier. */
export function checkVerifier(loginKey: Uint8Array, v: Verifier): boolean {
  const h = verifierHash(v.salt, loginKey);
  const ok = h.length === v.hash.length && timingSafeEqual(h, v.hash);
  h.fill(0);
  return ok;
}

/** A verifier no key matches, checked for unknown handles so they take the same path. */
export function decoyVerifier(): Verifier {
  return { salt: randomBytes(VERIFIER_SALT_BYTES), hash: randomBytes(32) };
}

function verifierHash(salt: Uint8Array, loginKey: Uint8Array): Buffer {
  return createHmac('sha256', salt).update('wos-login-verifier-v1\0').update(loginKey).digest();
}
