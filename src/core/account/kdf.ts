import { utf8 } from '../bytes.ts';

/** HKDF-SHA-256 helpers shared by the account derivations (RFC 5869 through WebCrypto). */

/** Imports secret bytes as a non-extractable HKDF base key. */
export function importHkdfKey(subtle: SubtleCrypto, ikm: Uint8Array): Promise<CryptoKey> {
  return subtle.importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits', 'deriveKey']);
}

/** `HKDF-SHA-256(ikm, salt, info)` truncated to `bytes`; `info` is a UTF-8 label. */
export async function hkdfBytes(
  subtle: SubtleCrypto,
  base: CryptoKey,
  info: string,
  bytes: number,
  salt: Uint8Array = new Uint8Array(0),
): Promise<Uint8Array> {
  const params = {
    name: 'HKDF',
    hash: 'SHA-256',
    salt: salt as BufferSource,
    info: utf8(info) as BufferSource,
  };
  return new Uint8Array(await subtle.deriveBits(params, base, bytes * 8));
}

/** A non-extractable AES-256-GCM key by HKDF-SHA-256. */
export function hkdfAesKey(
  subtle: SubtleCrypto,
  base: CryptoKey,
  info: string,
  salt: Uint8Array = new Uint8Array(0),
): Promise<CryptoKey> {
  const params = {
    name: 'HKDF',
    hash: 'SHA-256',
    salt: salt as BufferSource,
    info: utf8(info) as BufferSource,
  };
  return subtle.deriveKey(params, base, { name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ]);
}
