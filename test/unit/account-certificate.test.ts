import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url, toHex } from '../../src/core/bytes.ts';
import { CertificateError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  certificateBytes,
  issueCertificate,
  parseCertificate,
  verifyCertificate,
  type Certificate,
} from '../../src/core/account/certificate.ts';
import { generateBoxKeyPair } from '../../src/core/account/epoch-keys.ts';
import { emptyRevocations, revokeDevices } from '../../src/core/account/revocation.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const OTHER = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
/** The P-256 base point: a valid public key for a fixed vector. */
const G = Uint8Array.from(
  Buffer.from(
    '046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296' +
      '4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5',
    'hex',
  ),
);
const REQ = {
  deviceKey: G,
  boxKey: G,
  name: 'Laptop',
  kind: 'tab',
  issued: 1_700_000_000_000,
  serial: 1,
} as const;

const CERT_BYTES =
  '776f732f76312f6465766963652d63657274' + // "wos/v1/device-cert"
  '00' +
  '01' + // v
  '48d335b1a238d16f3395e8b580919d1bd6c184221b21580db377de5e4df92ba5' + // account
  '0010' +
  '356e696a786c7867746a336d77717568' + // device id "5nijxlxgtj3mwquh"
  toHex(G) + // device key
  toHex(G) + // box key
  '0006' +
  '4c6170746f70' + // "Laptop"
  '0003' +
  '746162' + // "tab"
  '0000018bcfe56800' + // issued
  '00000001'; // serial
const SIG =
  'GMi0vm3M0oajUgED-_H10u85yRPTYmbGGdM-bY4A5xKe12jdZ9CSOJID9nzt76zEFPBpGiGmq4pnIu3jPJ03AQ';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(CertificateError);
    return (e as CertificateError).code;
  }
}

describe('device certificates', () => {
  it('encode to the fixed canonical bytes and carry the fixed (deterministic Ed25519) signature', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const cert = await issueCertificate(subtle, account, REQ);
    expect(toHex(certificateBytes(cert))).toBe(CERT_BYTES);
    expect(cert.device.id).toBe('5nijxlxgtj3mwquh');
    expect(cert.sig).toBe(SIG);
    // node:crypto verifies it with the account public key.
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), account.publicKey]);
    const pub = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
    expect(crypto.verify(null, certificateBytes(cert), pub, fromBase64Url(cert.sig))).toBe(true);
    expect(
      await verifyCertificate(subtle, JSON.parse(JSON.stringify(cert)), account.publicKey),
    ).toEqual(cert);
  });

  it('issues and verifies a certificate for a real device identity and box key', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const id = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
    const box = await generateBoxKeyPair(subtle);
    const cert = await issueCertificate(subtle, account, {
      deviceKey: id.publicKey,
      boxKey: box.publicKey,
      name: 'Phone',
      kind: 'agent',
      issued: Date.now(),
      serial: 7,
    });
    expect(cert.device.id).toBe(id.deviceId);
    const revs = await emptyRevocations(account);
    expect((await verifyCertificate(subtle, cert, account.publicKey, revs)).device.id).toBe(
      id.deviceId,
    );
    const revoked = await revokeDevices(account, revs, [id.deviceId], Date.now());
    expect(await codeOf(verifyCertificate(subtle, cert, account.publicKey, revoked))).toBe(
      'CERT_REVOKED',
    );
    await expect(verifyCertificate(subtle, cert, account.publicKey, revoked)).rejects.toThrow(
      /Phone.*revoked/,
    );
  });

  it('refuses every malformed, tampered or foreign certificate with a specific code', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const other = await deriveAccountKeys(subtle, OTHER);
    const cert = await issueCertificate(subtle, account, REQ);
    const pk = account.publicKey;
    const edit = (f: (c: Record<string, unknown>) => void): unknown => {
      const c = JSON.parse(JSON.stringify(cert)) as Record<string, unknown>;
      f(c);
      return c;
    };
    const dev = (c: Record<string, unknown>): Record<string, unknown> =>
      c.device as Record<string, unknown>;
    const sig = fromBase64Url(cert.sig);
    sig[0]! ^= 1;
    const key2 = G.slice();
    key2[40]! ^= 1;
    const cases: [string, unknown, string][] = [
      ['not an object', 'cert', 'CERT_MALFORMED'],
      ['null', null, 'CERT_MALFORMED'],
      ['version 2', edit((c) => (c.v = 2)), 'CERT_VERSION'],
      ['version "1"', edit((c) => (c.v = '1')), 'CERT_VERSION'],
      ['extra field', edit((c) => (c.admin = true)), 'CERT_MALFORMED'],
      ['missing sig', edit((c) => delete c.sig), 'CERT_MALFORMED'],
      ['short sig', edit((c) => (c.sig = cert.sig.slice(0, 80))), 'CERT_MALFORMED'],
      ['bad kind', edit((c) => (c.kind = 'server')), 'CERT_MALFORMED'],
      ['empty name', edit((c) => (c.name = '')), 'CERT_MALFORMED'],
      ['NFD name', edit((c) => (c.name = 'Jose\u0301')), 'CERT_MALFORMED'],
      ['serial too big', edit((c) => (c.serial = 2 ** 32)), 'CERT_MALFORMED'],
      ['issued fraction', edit((c) => (c.issued = 1.5)), 'CERT_MALFORMED'],
      [
        'compressed key',
        edit((c) => (dev(c).key = toBase64Url(Uint8Array.of(2, ...G.subarray(1))))),
        'CERT_MALFORMED',
      ],
      ['device id not of key', edit((c) => (dev(c).id = 'aaaaaaaaaaaaaaaa')), 'CERT_MALFORMED'],
      ['renamed', edit((c) => (c.name = 'Laptop2')), 'CERT_BAD_SIGNATURE'],
      ['other kind', edit((c) => (c.kind = 'agent')), 'CERT_BAD_SIGNATURE'],
      ['later issued', edit((c) => (c.issued = REQ.issued + 1)), 'CERT_BAD_SIGNATURE'],
      ['new serial', edit((c) => (c.serial = 2)), 'CERT_BAD_SIGNATURE'],
      ['swapped box key', edit((c) => (dev(c).box = toBase64Url(key2))), 'CERT_BAD_SIGNATURE'],
      ['flipped sig bit', edit((c) => (c.sig = toBase64Url(sig))), 'CERT_BAD_SIGNATURE'],
      [
        'other account',
        edit((c) => (c.account = toBase64Url(other.publicKey))),
        'CERT_WRONG_ACCOUNT',
      ],
    ];
    for (const [what, c, code] of cases) {
      expect([what, await codeOf(verifyCertificate(subtle, c, pk))]).toEqual([what, code]);
    }
    // Signed by another account but claiming this one.
    const forged = { ...cert, sig: toBase64Url(await other.sign(certificateBytes(cert))) };
    expect(await codeOf(verifyCertificate(subtle, forged, pk))).toBe('CERT_BAD_SIGNATURE');
    // A genuine certificate of another account.
    const foreign = await issueCertificate(subtle, other, REQ);
    expect(await codeOf(verifyCertificate(subtle, foreign, pk))).toBe('CERT_WRONG_ACCOUNT');
    expect(() => parseCertificate({ ...cert, v: 3 })).toThrow(/version 3 is not supported/);
  });

  it('the issuer refuses bad requests before signing', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const bad: Certificate['kind'] = 'tab';
    await expect(
      issueCertificate(subtle, account, { ...REQ, kind: bad, name: '' }),
    ).rejects.toThrow(CertificateError);
    await expect(
      issueCertificate(subtle, account, { ...REQ, boxKey: G.subarray(1) }),
    ).rejects.toThrow(CertificateError);
  });
});
