import { scryptAsync } from '@noble/hashes/scrypt.js';
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from '../bytes.ts';
import { PassphraseError } from './account-errors.ts';
import { ACCOUNT_SECRET_BYTES, checkAccountSecret, type AccountSecret } from './account-secret.ts';
import { formatHandle, parseHandle, type Handle } from './handle.ts';
import { hkdfAesKey, hkdfBytes, importHkdfKey } from './kdf.ts';

/**
 * Handle + passphrase sign-in. The server keeps, per handle: a random salt, the scrypt
 * parameters, the sealed account secret and a verifier (a hash) of the login key. It never sees
 * the passphrase, the scrypt output, the wrap key or the secret.
 *
 *   P        = UTF-8(NFKC(passphrase))                       (at least 8 code points)
 *   S        = scrypt(P, salt (16 random bytes), N, r, p, 32)
 *   loginKey = HKDF-SHA-256(S, "", "wos/v1/passphrase-login", 32)   → sent to the server
 *   wrapKey  = HKDF-SHA-256(S, "", "wos/v1/passphrase-wrap", 32)    → AES-256-GCM, stays here
 *   sealed   = 0x01 ‖ nonce (12 random) ‖ AES-GCM(wrapKey, nonce, secret, AAD) (32 + 16 tag)
 *   AAD      = UTF-8("wos/v1/sealed-secret|" ‖ handle)   (handle as `name#tag`, normalized)
 *
 * Default parameters N = 2^16, r = 8, p = 1 (64 MiB; on the 2-core test machine under load
 * 0.38–0.72 s in Chromium 150 and 0.43–0.51 s in Node 20; N = 2^17 took up to 1.35 s). A
 * client refuses parameters below N·r·p = 2^15·8 — a hostile server could otherwise ask for a
 * cheap derivation and brute-force the passphrase from the login key — and above 256 MiB.
 */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 16, r: 8, p: 1 };
export const MIN_SCRYPT_COST = 2 ** 15 * 8;
export const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;
export const PASSPHRASE_MIN_CHARS = 8;
export const SALT_BYTES = 16;
export const SEALED_SECRET_VERSION = 1;
const NONCE_BYTES = 12;
const SEALED_BYTES = 1 + NONCE_BYTES + ACCOUNT_SECRET_BYTES + 16;
export const LOGIN_INFO = 'wos/v1/passphrase-login';
export const WRAP_INFO = 'wos/v1/passphrase-wrap';
const AAD_LABEL = 'wos/v1/sealed-secret|';

export interface PassphraseKeys {
  /** 32 bytes, base64url: proves the passphrase to the server. */
  readonly loginKey: string;
  /** Non-extractable AES-256-GCM key that seals the account secret. */
  readonly wrapKey: CryptoKey;
}

/**
 * What the client sends at sign-up. The server keeps all but `loginKey`, of which it keeps only
 * a verifier (signaling-server/accounts/verifier.ts: HMAC-SHA-256 under a per-record salt).
 */
export interface ServerRecord {
  readonly salt: string;
  readonly params: ScryptParams;
  readonly loginKey: string;
  readonly sealedSecret: string;
}

export function checkScryptParams(params: ScryptParams): ScryptParams {
  const { N, r, p } = params;
  const ints = [N, r, p].every((x) => Number.isSafeInteger(x) && x >= 1);
  const pow2 = ints && (N & (N - 1)) === 0 && N >= 2;
  if (!pow2 || N * r * p < MIN_SCRYPT_COST || 128 * r * N > MAX_SCRYPT_MEMORY || p > 16) {
    throw new PassphraseError(
      'PASSPHRASE_PARAMS',
      `refusing scrypt parameters N=${N}, r=${r}, p=${p}: N must be a power of two, N·r·p at ` +
        `least 2^18 and memory at most 256 MiB; the server's record is damaged or not to be trusted`,
    );
  }
  return { N, r, p };
}

function handleText(handle: Handle | string): string {
  return formatHandle(typeof handle === 'string' ? parseHandle(handle) : handle);
}

/** Runs scrypt and derives the login and wrap keys (the slow step, ≈ 0.5 s). */
export async function derivePassphraseKeys(
  subtle: SubtleCrypto,
  passphrase: string,
  salt: Uint8Array,
  params: ScryptParams,
): Promise<PassphraseKeys> {
  const P = passphrase.normalize('NFKC');
  if ([...P].length < PASSPHRASE_MIN_CHARS) {
    throw new PassphraseError(
      'PASSPHRASE_TOO_SHORT',
      `a passphrase has at least ${PASSPHRASE_MIN_CHARS} characters; choose a longer one`,
    );
  }
  if (salt.length !== SALT_BYTES) {
    throw new PassphraseError('PASSPHRASE_PARAMS', `the salt must be ${SALT_BYTES} bytes`);
  }
  const { N, r, p } = checkScryptParams(params);
  const s = await scryptAsync(utf8(P), salt, {
    N,
    r,
    p,
    dkLen: 32,
    maxmem: MAX_SCRYPT_MEMORY + 4096,
  });
  const base = await importHkdfKey(subtle, s);
  s.fill(0);
  const [login, wrapKey] = await Promise.all([
    hkdfBytes(subtle, base, LOGIN_INFO, 32),
    hkdfAesKey(subtle, base, WRAP_INFO),
  ]);
  return { loginKey: toBase64Url(login), wrapKey };
}

/** Seals the account secret for the server under a new random salt. */
export async function sealSecretForServer(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
  handle: Handle | string,
  passphrase: string,
  secret: AccountSecret,
  params: ScryptParams = DEFAULT_SCRYPT,
): Promise<ServerRecord> {
  checkAccountSecret(secret);
  const h = handleText(handle);
  const salt = random(SALT_BYTES);
  const keys = await derivePassphraseKeys(subtle, passphrase, salt, params);
  const nonce = random(NONCE_BYTES);
  const gcm = {
    name: 'AES-GCM',
    iv: nonce as BufferSource,
    additionalData: utf8(AAD_LABEL + h) as BufferSource,
  };
  const ct = new Uint8Array(await subtle.encrypt(gcm, keys.wrapKey, secret as BufferSource));
  const sealed = concatBytes(Uint8Array.of(SEALED_SECRET_VERSION), nonce, ct);
  return {
    salt: toBase64Url(salt),
    params: checkScryptParams(params),
    loginKey: keys.loginKey,
    sealedSecret: toBase64Url(sealed),
  };
}

/**
 * Opens the sealed secret the server returned once it accepted `keys.loginKey`. Wrong
 * passphrase (or a blob sealed for another handle) → PASSPHRASE_WRONG.
 */
export async function openSecretFromServer(
  subtle: SubtleCrypto,
  keys: PassphraseKeys,
  handle: Handle | string,
  sealedSecret: string,
): Promise<AccountSecret> {
  const h = handleText(handle);
  let sealed: Uint8Array;
  try {
    sealed = fromBase64Url(sealedSecret);
  } catch {
    throw new PassphraseError('SEALED_SECRET_MALFORMED', 'the sealed secret is not base64url');
  }
  if (sealed.length > 0 && sealed[0] !== SEALED_SECRET_VERSION) {
    throw new PassphraseError(
      'SEALED_SECRET_VERSION',
      `sealed secret version ${sealed[0]} is not supported (expected 1); update WOS`,
    );
  }
  if (sealed.length !== SEALED_BYTES) {
    throw new PassphraseError(
      'SEALED_SECRET_MALFORMED',
      `a sealed secret is ${SEALED_BYTES} bytes, this one ${sealed.length}; the server's record is damaged`,
    );
  }
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const gcm = {
    name: 'AES-GCM',
    iv: nonce as BufferSource,
    additionalData: utf8(AAD_LABEL + h) as BufferSource,
  };
  try {
    const pt = await subtle.decrypt(
      gcm,
      keys.wrapKey,
      sealed.subarray(1 + NONCE_BYTES) as BufferSource,
    );
    return new Uint8Array(pt);
  } catch {
    throw new PassphraseError(
      'PASSPHRASE_WRONG',
      `the passphrase does not open the secret stored for ${h}; check the passphrase (and the handle)`,
    );
  }
}
