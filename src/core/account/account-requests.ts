import { concatBytes, fromBase64Url, toBase64Url, utf8 } from '../bytes.ts';
import { sha256 } from '../identity.ts';
import type { DeleteRequest, RegisterRequest, UpdateRequest } from './account-api.ts';
import type { AccountKeys } from './account-keys.ts';
import { CanonicalWriter } from './canonical.ts';
import { ED25519_PUBLIC_BYTES } from './ed25519.ts';
import type { ScryptParams } from './passphrase.ts';

/**
 * Account-signed changes of the server's sign-in record (request v2). Registration, passphrase
 * change and deletion each carry an Ed25519 signature by the account key over canonical bytes
 * (docs/ACCOUNTS.md, "Signed record changes"), so only the holder of the account secret can put
 * a record under a handle whose tag is its key's, or change or remove it. A server-issued
 * single-use challenge (`nonce`) inside the signed bytes stops a captured request from being
 * replayed. Login keys enter the signed bytes only as a hash, so the server never copies the
 * key itself into a buffer it cannot zero (WebCrypto keeps its own copy of the data it checks).
 *
 * Both the client (`AccountSession`) and the server (signaling-server/accounts) build the bytes
 * with these functions.
 */
export const ACCOUNT_REQUEST_VERSION = 2;
export const REGISTER_LABEL = 'wos/v1/account-register';
export const UPDATE_LABEL = 'wos/v1/account-update';
export const DELETE_LABEL = 'wos/v1/account-delete';
export const LOGIN_KEY_HASH_LABEL = 'wos/v1/login-key-hash|';

/** Scrypt parameters as sent: a flat object, signed as JSON with sorted keys. */
export type SignedKdf = ScryptParams | Readonly<Record<string, string | number | boolean>>;

export interface RegisterFields {
  readonly handle: string;
  readonly accountKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly salt: Uint8Array;
  readonly kdf: SignedKdf;
  /** `loginKeyHash(loginKey)`. */
  readonly loginKeyHash: Uint8Array;
  readonly sealedSecret: Uint8Array;
}

export interface UpdateFields {
  readonly handle: string;
  readonly accountKey: Uint8Array;
  readonly nonce: Uint8Array;
  /** Hash of the current login key. */
  readonly loginKeyHash: Uint8Array;
  readonly newSalt: Uint8Array;
  readonly newKdf: SignedKdf;
  readonly newLoginKeyHash: Uint8Array;
  readonly newSealedSecret: Uint8Array;
}

export interface DeleteFields {
  readonly handle: string;
  readonly accountKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly loginKeyHash: Uint8Array;
}

/** The kdf object as signed: JSON with keys sorted, so key order in transit does not matter. */
export function canonicalKdf(kdf: SignedKdf): string {
  const o = kdf as Readonly<Record<string, unknown>>;
  const sorted = Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(o[k])}`);
  return `{${sorted.join(',')}}`;
}

/** SHA-256("wos/v1/login-key-hash|" ‖ login key): how a login key enters signed bytes. */
export function loginKeyHash(subtle: SubtleCrypto, loginKey: Uint8Array): Promise<Uint8Array> {
  return sha256(subtle, concatBytes(utf8(LOGIN_KEY_HASH_LABEL), loginKey));
}

function head(label: string, handle: string, accountKey: Uint8Array, nonce: Uint8Array) {
  return new CanonicalWriter(label)
    .u8(ACCOUNT_REQUEST_VERSION)
    .str(handle)
    .fixed(accountKey, ED25519_PUBLIC_BYTES)
    .bytes(nonce);
}

export function registerBytes(f: RegisterFields): Uint8Array {
  return head(REGISTER_LABEL, f.handle, f.accountKey, f.nonce)
    .bytes(f.salt)
    .str(canonicalKdf(f.kdf))
    .fixed(f.loginKeyHash, 32)
    .bytes(f.sealedSecret)
    .done();
}

export function updateBytes(f: UpdateFields): Uint8Array {
  return head(UPDATE_LABEL, f.handle, f.accountKey, f.nonce)
    .fixed(f.loginKeyHash, 32)
    .bytes(f.newSalt)
    .str(canonicalKdf(f.newKdf))
    .fixed(f.newLoginKeyHash, 32)
    .bytes(f.newSealedSecret)
    .done();
}

export function deleteBytes(f: DeleteFields): Uint8Array {
  return head(DELETE_LABEL, f.handle, f.accountKey, f.nonce).fixed(f.loginKeyHash, 32).done();
}

/** What the client knows before signing a registration (binary fields base64url, as sent). */
export type UnsignedRegister = Omit<RegisterRequest, 'v' | 'nonce' | 'sig' | 'accountKey'>;
export type UnsignedUpdate = Omit<UpdateRequest, 'v' | 'nonce' | 'sig'>;

/** A registration signed by `keys` over the server's challenge `nonce` (base64url). */
export async function signRegister(
  subtle: SubtleCrypto,
  keys: AccountKeys,
  nonce: string,
  r: UnsignedRegister,
): Promise<RegisterRequest> {
  const bytes = registerBytes({
    handle: r.handle,
    accountKey: keys.publicKey,
    nonce: fromBase64Url(nonce),
    salt: fromBase64Url(r.salt),
    kdf: r.kdf,
    loginKeyHash: await loginKeyHash(subtle, fromBase64Url(r.loginKey)),
    sealedSecret: fromBase64Url(r.sealedSecret),
  });
  const sig = toBase64Url(await keys.sign(bytes));
  return { v: 2, ...r, accountKey: toBase64Url(keys.publicKey), nonce, sig };
}

export async function signUpdate(
  subtle: SubtleCrypto,
  keys: AccountKeys,
  nonce: string,
  r: UnsignedUpdate,
): Promise<UpdateRequest> {
  const bytes = updateBytes({
    handle: r.handle,
    accountKey: keys.publicKey,
    nonce: fromBase64Url(nonce),
    loginKeyHash: await loginKeyHash(subtle, fromBase64Url(r.loginKey)),
    newSalt: fromBase64Url(r.newSalt),
    newKdf: r.newKdf,
    newLoginKeyHash: await loginKeyHash(subtle, fromBase64Url(r.newLoginKey)),
    newSealedSecret: fromBase64Url(r.newSealedSecret),
  });
  return { v: 2, ...r, nonce, sig: toBase64Url(await keys.sign(bytes)) };
}

export async function signDelete(
  subtle: SubtleCrypto,
  keys: AccountKeys,
  nonce: string,
  handle: string,
  loginKey: string,
): Promise<DeleteRequest> {
  const bytes = deleteBytes({
    handle,
    accountKey: keys.publicKey,
    nonce: fromBase64Url(nonce),
    loginKeyHash: await loginKeyHash(subtle, fromBase64Url(loginKey)),
  });
  return { v: 2, handle, loginKey, nonce, sig: toBase64Url(await keys.sign(bytes)) };
}
