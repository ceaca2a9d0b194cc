import {
  createCipheriv,
  createDecipheriv,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  scryptSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import {
  deleteBytes,
  loginKeyHash,
  registerBytes,
  updateBytes,
} from '../../src/core/account/account-requests.ts';
import { handleTagOf } from '../../src/core/account/handle.ts';
import type { WosServerOptions } from '../../signaling-server/server.ts';
import { postJson, startServer, type TestServer } from './helpers.ts';

/**
 * A passphrase-account client for server tests, with node:crypto only: scrypt → login key and
 * wrap key, the secret sealed with AES-GCM, an Ed25519 account key whose tag is in the handle,
 * and register/update/delete signed over a fresh challenge as src/core/account does.
 */
const subtle = globalThis.crypto.subtle;
export type Kdf = { N: number; r: number; p: number } & Record<string, string | number | boolean>;
export const KDF: Kdf = { alg: 'scrypt', N: 1024, r: 8, p: 1 };
export const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
export const unb64 = (s: unknown): Buffer => Buffer.from(String(s), 'base64url');

/** What the browser client does: scrypt → login key + wrap key. */
export function client(passphrase: string, salt: Buffer = randomBytes(16), kdf: Kdf = KDF) {
  const master = scryptSync(passphrase, salt, 64, { N: kdf.N, r: kdf.r, p: kdf.p });
  const loginKey = Buffer.from(hkdfSync('sha256', master, salt, 'wos-login-key', 32));
  const wrapKey = Buffer.from(hkdfSync('sha256', master, salt, 'wos-wrap-key', 32));
  return { salt, kdf, loginKey, wrapKey };
}

export type Client = ReturnType<typeof client>;

export function seal(wrapKey: Buffer, secret: Buffer): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', wrapKey, iv);
  const ct = Buffer.concat([c.update(secret), c.final()]);
  return Buffer.concat([iv, ct, c.getAuthTag()]);
}

export function open(wrapKey: Buffer, sealed: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', wrapKey, sealed.subarray(0, 12));
  d.setAuthTag(sealed.subarray(-16));
  return Buffer.concat([d.update(sealed.subarray(12, -16)), d.final()]);
}

export interface AccountKey {
  publicKey: Buffer;
  privateKey: KeyObject;
}

export function accountKeyPair(): AccountKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: unb64(publicKey.export({ format: 'jwk' }).x), privateKey };
}

export interface Account {
  /** `name#tag`, the tag that of `key`. */
  handle: string;
  passphrase: string;
  key: AccountKey;
  accountKey: Buffer;
  secret: Buffer;
  c: Client;
  sealed: Buffer;
}

export async function newAccount(
  name: string,
  passphrase = `correct horse ${name}`,
  key = accountKeyPair(),
  kdf = KDF,
): Promise<Account> {
  const c = client(passphrase, randomBytes(16), kdf);
  // A recognisable plaintext marker inside the secret, to search for in files and logs.
  const secret = Buffer.concat([Buffer.from('SECRET-MARKER-'), randomBytes(18)]);
  return {
    handle: `${name}#${await handleTagOf(subtle, key.publicKey)}`,
    passphrase,
    key,
    accountKey: key.publicKey,
    secret,
    c,
    sealed: seal(c.wrapKey, secret),
  };
}

export const api = (s: TestServer, op: string, body: unknown, headers?: Record<string, string>) =>
  postJson(s.base, `/api/account/${op}`, body, headers);

export async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

export function start(options: WosServerOptions['accounts'] = {}, more: WosServerOptions = {}) {
  return startServer({ ...more, accounts: { db: ':memory:', ...options } });
}

export async function challenge(s: TestServer, headers?: Record<string, string>): Promise<string> {
  const res = await api(s, 'challenge', {}, headers);
  if (res.status !== 200) throw new Error(`challenge ${res.status}: ${await res.text()}`);
  return String((await json(res)).nonce);
}

type Body = Record<string, unknown>;

/** The v2 register body, signed by `a.key` over `nonce`; `sign` overrides the signing key. */
export async function registerBody(a: Account, nonce: string, signer = a.key): Promise<Body> {
  const bytes = registerBytes({
    handle: a.handle,
    accountKey: a.accountKey,
    nonce: unb64(nonce),
    salt: a.c.salt,
    kdf: a.c.kdf,
    loginKeyHash: await loginKeyHash(subtle, a.c.loginKey),
    sealedSecret: a.sealed,
  });
  return {
    v: 2,
    handle: a.handle,
    accountKey: b64(a.accountKey),
    salt: b64(a.c.salt),
    kdf: a.c.kdf,
    loginKey: b64(a.c.loginKey),
    sealedSecret: b64(a.sealed),
    nonce,
    sig: b64(sign(null, bytes, signer.privateKey)),
  };
}

/** Registers `a` with a fresh challenge. */
export async function register(s: TestServer, a: Account): Promise<Response> {
  return api(s, 'register', await registerBody(a, await challenge(s)));
}

export async function updateBody(
  a: Account,
  nonce: string,
  currentLoginKey: Buffer,
  next: Client,
  newSealed: Buffer,
  handle = a.handle,
): Promise<Body> {
  const bytes = updateBytes({
    handle,
    accountKey: a.accountKey,
    nonce: unb64(nonce),
    loginKeyHash: await loginKeyHash(subtle, currentLoginKey),
    newSalt: next.salt,
    newKdf: next.kdf,
    newLoginKeyHash: await loginKeyHash(subtle, next.loginKey),
    newSealedSecret: newSealed,
  });
  return {
    v: 2,
    handle,
    loginKey: b64(currentLoginKey),
    newSalt: b64(next.salt),
    newKdf: next.kdf,
    newLoginKey: b64(next.loginKey),
    newSealedSecret: b64(newSealed),
    nonce,
    sig: b64(sign(null, bytes, a.key.privateKey)),
  };
}

export async function deleteBody(a: Account, nonce: string, loginKey: Buffer): Promise<Body> {
  const bytes = deleteBytes({
    handle: a.handle,
    accountKey: a.accountKey,
    nonce: unb64(nonce),
    loginKeyHash: await loginKeyHash(subtle, loginKey),
  });
  return {
    v: 2,
    handle: a.handle,
    loginKey: b64(loginKey),
    nonce,
    sig: b64(sign(null, bytes, a.key.privateKey)),
  };
}

/** Signs in as the client would: params → scrypt → login → open the sealed secret. */
export async function signIn(
  s: TestServer,
  handle: string,
  passphrase: string,
  headers?: Record<string, string>,
): Promise<Buffer> {
  const p = await json(await api(s, 'params', { handle }, headers));
  const c = client(passphrase, unb64(p.salt), p.kdf as Kdf);
  const res = await api(s, 'login', { handle, loginKey: b64(c.loginKey) }, headers);
  if (res.status !== 200) throw new Error(`login ${res.status}: ${await res.text()}`);
  const body = await json(res);
  return open(c.wrapKey, unb64(body.sealedSecret));
}
