import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toBase64Url, toHex, utf8 } from '../../src/core/bytes.ts';
import {
  ACCOUNT_SIGNING_INFO,
  deriveAccountKeys,
  PERSONAL_MESH_INFO,
  STORAGE_ROOT_EPOCH0_INFO,
} from '../../src/core/account/account-keys.ts';
import { newAccountSecret } from '../../src/core/account/account-secret.ts';
import { ed25519Verify } from '../../src/core/account/ed25519.ts';
import { checkMeshKey, meshIdOf } from '../../src/core/identity.ts';
import { CONTENT_KEY_INFO, deriveFileKeys, META_KEY_INFO } from '../../src/core/storage/keys.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i); // 00 01 … 1f
const FILE_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

/** Independent HKDF-SHA-256 (Node's OpenSSL), empty salt unless given. */
function hkdf(ikm: Uint8Array, info: string, n: number, salt = new Uint8Array(0)): Uint8Array {
  return new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, utf8(info), n));
}

describe('account keys from a fixed secret', () => {
  it('match the fixed vectors', async () => {
    const k = await deriveAccountKeys(subtle, SECRET);
    expect(toHex(k.publicKey)).toBe(
      '48d335b1a238d16f3395e8b580919d1bd6c184221b21580db377de5e4df92ba5',
    );
    expect(k.meshKey).toBe('ek2rRPZU6F4CKRtRTHmn6BK_nTfaBOPRc4rtwClAsPE');
    const fk = await deriveFileKeys(subtle, k.storageRootEpoch0, FILE_ID, { extractable: true });
    const content = new Uint8Array(await subtle.exportKey('raw', fk.content));
    expect(toHex(content)).toBe('2df3f9d02c3408e1ec0e47a7c26f96ba6df4620659e49324c84350d9721c08bf');
  });

  it('agree with Node crypto: HKDF labels, Ed25519 seed import, storage file keys', async () => {
    const k = await deriveAccountKeys(subtle, SECRET);
    // Signing key: HKDF seed → Ed25519 public key, computed by node:crypto from the same seed.
    const seed = hkdf(SECRET, ACCOUNT_SIGNING_INFO, 32);
    const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const priv = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const spki = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' });
    expect(toHex(k.publicKey)).toBe(toHex(new Uint8Array(spki.subarray(12))));
    // Mesh key.
    expect(k.meshKey).toBe(toBase64Url(hkdf(SECRET, PERSONAL_MESH_INFO, 32)));
    // Storage root → file keys (salt = file id), exactly as storage/keys.ts specifies.
    const root = hkdf(SECRET, STORAGE_ROOT_EPOCH0_INFO, 32);
    const fk = await deriveFileKeys(subtle, k.storageRootEpoch0, FILE_ID, { extractable: true });
    const c = new Uint8Array(await subtle.exportKey('raw', fk.content));
    const m = new Uint8Array(await subtle.exportKey('raw', fk.meta));
    expect(toHex(c)).toBe(toHex(hkdf(root, CONTENT_KEY_INFO, 32, FILE_ID)));
    expect(toHex(m)).toBe(toHex(hkdf(root, META_KEY_INFO, 32, FILE_ID)));
    // A signature by the account verifies with node:crypto and with ed25519Verify.
    const msg = utf8('hello');
    const sig = await k.sign(msg);
    expect(crypto.verify(null, msg, crypto.createPublicKey(priv), sig)).toBe(true);
    expect(await ed25519Verify(subtle, k.publicKey, msg, sig)).toBe(true);
    expect(await ed25519Verify(subtle, k.publicKey, utf8('hellO'), sig)).toBe(false);
    expect(await ed25519Verify(subtle, k.publicKey.subarray(1), msg, sig)).toBe(false);
  });

  it('keeps the signing and storage keys non-extractable', async () => {
    const k = await deriveAccountKeys(subtle, SECRET);
    expect(k.signingKey.extractable).toBe(false);
    expect(k.storageRootEpoch0.extractable).toBe(false);
    await expect(subtle.exportKey('pkcs8', k.signingKey)).rejects.toThrow();
  });

  it('gives the same mesh on every device and different keys for different secrets', async () => {
    const a1 = await deriveAccountKeys(subtle, SECRET.slice());
    const a2 = await deriveAccountKeys(subtle, SECRET.slice());
    expect(a1.meshKey).toBe(a2.meshKey);
    expect(await meshIdOf(subtle, a1.meshKey)).toBe(await meshIdOf(subtle, a2.meshKey));
    const other = newAccountSecret((n) => crypto.randomBytes(n));
    const b = await deriveAccountKeys(subtle, other);
    expect(checkMeshKey(b.meshKey)).toBe(b.meshKey);
    expect(b.meshKey).not.toBe(a1.meshKey);
    expect(toHex(b.publicKey)).not.toBe(toHex(a1.publicKey));
  });

  it('refuses secrets of the wrong size and a broken random source', async () => {
    await expect(deriveAccountKeys(subtle, new Uint8Array(31))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    expect(() => newAccountSecret((n) => new Uint8Array(n))).toThrow(/constant/);
    expect(() => newAccountSecret((n) => new Uint8Array(n - 1))).toThrow(/32 bytes/);
  });
});
