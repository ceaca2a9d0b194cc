import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  canonicalKdf,
  deleteBytes,
  loginKeyHash,
  registerBytes,
  signDelete,
  signRegister,
  signUpdate,
  updateBytes,
} from '../../src/core/account/account-requests.ts';
import { ed25519Verify } from '../../src/core/account/ed25519.ts';
import { fromBase64Url, toBase64Url, toHex } from '../../src/core/bytes.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const seq = (from: number, n: number) => Uint8Array.from({ length: n }, (_, i) => from + i);
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const u16 = (n: number) => n.toString(16).padStart(4, '0');

describe('account-signed record changes (request v2)', () => {
  it('register bytes are spelled out; login keys enter only as their hash', async () => {
    const keys = await deriveAccountKeys(subtle, SECRET);
    const loginKey = seq(0x20, 32);
    const h = await loginKeyHash(subtle, loginKey);
    expect(toHex(h)).toBe(
      crypto.createHash('sha256').update('wos/v1/login-key-hash|').update(loginKey).digest('hex'),
    );
    const f = {
      handle: 'alice#7fln',
      accountKey: keys.publicKey,
      nonce: seq(0x40, 40),
      salt: seq(0x50, 16),
      kdf: { r: 8, N: 65536, p: 1 },
      loginKeyHash: h,
      sealedSecret: seq(0x60, 61),
    };
    const kdf = '{"N":65536,"p":1,"r":8}';
    expect(canonicalKdf(f.kdf)).toBe(kdf);
    expect(toHex(registerBytes(f))).toBe(
      hex('wos/v1/account-register') +
        '00' +
        '02' +
        u16(10) +
        hex('alice#7fln') +
        '48d335b1a238d16f3395e8b580919d1bd6c184221b21580db377de5e4df92ba5' +
        u16(40) +
        toHex(f.nonce) +
        u16(16) +
        toHex(f.salt) +
        u16(kdf.length) +
        hex(kdf) +
        toHex(h) +
        u16(61) +
        toHex(f.sealedSecret),
    );
    expect(toHex(deleteBytes(f))).toBe(
      hex('wos/v1/account-delete') +
        '0002' +
        u16(10) +
        hex('alice#7fln') +
        toHex(keys.publicKey) +
        u16(40) +
        toHex(f.nonce) +
        toHex(h),
    );
  });

  it('signRegister / signUpdate / signDelete verify under the account key over their bytes', async () => {
    const keys = await deriveAccountKeys(subtle, SECRET);
    const b = (x: Uint8Array) => toBase64Url(x);
    const nonce = b(seq(0x40, 40));
    const fields = {
      handle: 'alice#7fln',
      salt: b(seq(0x50, 16)),
      kdf: { N: 65536, r: 8, p: 1 },
      loginKey: b(seq(0x20, 32)),
      sealedSecret: b(seq(0x60, 61)),
    };
    const reg = await signRegister(subtle, keys, nonce, fields);
    expect(reg).toMatchObject({ v: 2, ...fields, accountKey: b(keys.publicKey), nonce });
    const regBytes = registerBytes({
      handle: reg.handle,
      accountKey: keys.publicKey,
      nonce: fromBase64Url(nonce),
      salt: fromBase64Url(reg.salt),
      kdf: reg.kdf,
      loginKeyHash: await loginKeyHash(subtle, fromBase64Url(reg.loginKey)),
      sealedSecret: fromBase64Url(reg.sealedSecret),
    });
    const sig = fromBase64Url(reg.sig);
    expect(await ed25519Verify(subtle, keys.publicKey, regBytes, sig)).toBe(true);
    // Any other handle (even another case of it) is other bytes.
    const other = registerBytes({
      handle: 'ALICE#7fln',
      accountKey: keys.publicKey,
      nonce: fromBase64Url(nonce),
      salt: fromBase64Url(reg.salt),
      kdf: reg.kdf,
      loginKeyHash: await loginKeyHash(subtle, fromBase64Url(reg.loginKey)),
      sealedSecret: fromBase64Url(reg.sealedSecret),
    });
    expect(await ed25519Verify(subtle, keys.publicKey, other, sig)).toBe(false);

    const up = await signUpdate(subtle, keys, nonce, {
      handle: fields.handle,
      loginKey: fields.loginKey,
      newSalt: b(seq(0x70, 16)),
      newKdf: { N: 65536, r: 8, p: 1 },
      newLoginKey: b(seq(0x80, 32)),
      newSealedSecret: b(seq(0x90, 61)),
    });
    const upBytes = updateBytes({
      handle: up.handle,
      accountKey: keys.publicKey,
      nonce: fromBase64Url(nonce),
      loginKeyHash: await loginKeyHash(subtle, fromBase64Url(up.loginKey)),
      newSalt: fromBase64Url(up.newSalt),
      newKdf: up.newKdf,
      newLoginKeyHash: await loginKeyHash(subtle, fromBase64Url(up.newLoginKey)),
      newSealedSecret: fromBase64Url(up.newSealedSecret),
    });
    expect(await ed25519Verify(subtle, keys.publicKey, upBytes, fromBase64Url(up.sig))).toBe(true);
    // A register signature does not pass as an update (domain separation by label).
    expect(await ed25519Verify(subtle, keys.publicKey, upBytes, sig)).toBe(false);

    const del = await signDelete(subtle, keys, nonce, fields.handle, fields.loginKey);
    const delBytes = deleteBytes({
      handle: del.handle,
      accountKey: keys.publicKey,
      nonce: fromBase64Url(nonce),
      loginKeyHash: await loginKeyHash(subtle, fromBase64Url(del.loginKey)),
    });
    expect(await ed25519Verify(subtle, keys.publicKey, delBytes, fromBase64Url(del.sig))).toBe(
      true,
    );
  });
});
