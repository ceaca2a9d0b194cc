import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64Url, toBase64Url, toHex, utf8 } from '../../src/core/bytes.ts';
import { PassphraseError } from '../../src/core/account/account-errors.ts';
import {
  DEFAULT_SCRYPT,
  derivePassphraseKeys,
  LOGIN_INFO,
  openSecretFromServer,
  sealSecretForServer,
  WRAP_INFO,
} from '../../src/core/account/passphrase.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const SALT = Uint8Array.from({ length: 16 }, (_, i) => 0x50 + i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0x70 + i);
const PASS = 'correct horse battery staple';
const HANDLE = 'alice#7fln';

/** A random source that returns fixed bytes: salt first, then the nonce. */
function fixedRandom(): (n: number) => Uint8Array {
  const queue = [SALT, NONCE];
  return (n) => {
    const next = queue.shift();
    if (!next || next.length !== n) throw new Error(`unexpected random(${n})`);
    return next.slice();
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(PassphraseError);
    return (e as PassphraseError).code;
  }
}

describe('passphrase sign-in', () => {
  it('matches scrypt and HKDF of node:crypto and the fixed sealed-secret vector', async () => {
    const rec = await sealSecretForServer(subtle, fixedRandom(), HANDLE, PASS, SECRET);
    // Independent derivation with node:crypto.
    const { N, r, p } = DEFAULT_SCRYPT;
    const s = crypto.scryptSync(utf8(PASS), SALT, 32, { N, r, p, maxmem: 256 * 1024 * 1024 });
    const login = new Uint8Array(
      crypto.hkdfSync('sha256', s, new Uint8Array(0), utf8(LOGIN_INFO), 32),
    );
    const wrap = new Uint8Array(
      crypto.hkdfSync('sha256', s, new Uint8Array(0), utf8(WRAP_INFO), 32),
    );
    expect(rec.loginKey).toBe(toBase64Url(login));
    expect(rec.salt).toBe(toBase64Url(SALT));
    expect(rec.params).toEqual({ N: 65536, r: 8, p: 1 });
    const c = crypto.createCipheriv('aes-256-gcm', wrap, NONCE);
    c.setAAD(utf8(`wos/v1/sealed-secret|${HANDLE}`));
    const ct = Buffer.concat([c.update(SECRET), c.final(), c.getAuthTag()]);
    expect(rec.sealedSecret).toBe(toBase64Url(concatBytes(Uint8Array.of(1), NONCE, ct)));
    expect(rec.loginKey).toBe('LNxvV_QRxCQDzCgchewAOUvtTDou4ny0jsyUuMJJi14');
    expect(fromBase64Url(rec.sealedSecret)).toHaveLength(61);
  });

  it('opens with the right passphrase; wrong passphrase or handle → PASSPHRASE_WRONG', async () => {
    const random = (n: number): Uint8Array => crypto.randomBytes(n);
    const rec = await sealSecretForServer(subtle, random, HANDLE, PASS, SECRET);
    const salt = fromBase64Url(rec.salt);
    const keys = await derivePassphraseKeys(subtle, PASS, salt, rec.params);
    expect(keys.loginKey).toBe(rec.loginKey);
    expect(keys.wrapKey.extractable).toBe(false);
    const opened = await openSecretFromServer(subtle, keys, 'ALICE#7FLN', rec.sealedSecret);
    expect(toHex(opened)).toBe(toHex(SECRET));
    // NFKC: a full-width variant of the same passphrase is the same passphrase.
    const wide = await derivePassphraseKeys(
      subtle,
      'ｃｏｒｒｅｃｔ horse battery staple',
      salt,
      rec.params,
    );
    expect(wide.loginKey).toBe(rec.loginKey);
    const wrong = await derivePassphraseKeys(
      subtle,
      'correct horse battery stapler',
      salt,
      rec.params,
    );
    expect(wrong.loginKey).not.toBe(rec.loginKey);
    expect(await codeOf(openSecretFromServer(subtle, wrong, HANDLE, rec.sealedSecret))).toBe(
      'PASSPHRASE_WRONG',
    );
    expect(await codeOf(openSecretFromServer(subtle, keys, 'bob#7fln', rec.sealedSecret))).toBe(
      'PASSPHRASE_WRONG',
    );
  });

  it('refuses damaged blobs, weak or huge parameters and short passphrases', async () => {
    const rec = await sealSecretForServer(subtle, fixedRandom(), HANDLE, PASS, SECRET);
    const keys = await derivePassphraseKeys(subtle, PASS, SALT, rec.params);
    const blob = fromBase64Url(rec.sealedSecret);
    const flip = blob.slice();
    flip[30]! ^= 1;
    const v2 = blob.slice();
    v2[0] = 2;
    const cases: [string, string][] = [
      [toBase64Url(flip), 'PASSPHRASE_WRONG'],
      [toBase64Url(v2), 'SEALED_SECRET_VERSION'],
      [toBase64Url(blob.subarray(0, 60)), 'SEALED_SECRET_MALFORMED'],
      [toBase64Url(concatBytes(blob, Uint8Array.of(0))), 'SEALED_SECRET_MALFORMED'],
      ['', 'SEALED_SECRET_MALFORMED'],
      ['not base64!', 'SEALED_SECRET_MALFORMED'],
    ];
    for (const [sealed, code] of cases) {
      expect(await codeOf(openSecretFromServer(subtle, keys, HANDLE, sealed))).toBe(code);
    }
    for (const params of [
      { N: 1024, r: 8, p: 1 }, // too cheap: a hostile server could brute-force the login key
      { N: 2 ** 16 + 1, r: 8, p: 1 },
      { N: 2 ** 20, r: 8, p: 1 }, // 1 GiB
      { N: 2 ** 16, r: 0, p: 1 },
      { N: 2 ** 16, r: 8, p: 1.5 },
    ]) {
      expect(await codeOf(derivePassphraseKeys(subtle, PASS, SALT, params))).toBe(
        'PASSPHRASE_PARAMS',
      );
    }
    expect(await codeOf(derivePassphraseKeys(subtle, PASS, SALT.subarray(1), DEFAULT_SCRYPT))).toBe(
      'PASSPHRASE_PARAMS',
    );
    expect(await codeOf(derivePassphraseKeys(subtle, 'short', SALT, DEFAULT_SCRYPT))).toBe(
      'PASSPHRASE_TOO_SHORT',
    );
  });

  it('takes well under a second with the default parameters', async () => {
    const t = performance.now();
    await derivePassphraseKeys(subtle, PASS, SALT, DEFAULT_SCRYPT);
    expect(performance.now() - t).toBeLessThan(3000); // ≈ 0.45 s; slack for a loaded CI machine
  });
});
