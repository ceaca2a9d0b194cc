import { toBase64Url } from '../bytes.ts';
import { checkMeshKey } from '../identity.ts';
import { importStorageRootKey, ROOT_KEY_BYTES } from '../storage/keys.ts';
import { checkAccountSecret, type AccountSecret } from './account-secret.ts';
import { ed25519FromSeed, ed25519Sign } from './ed25519.ts';
import { hkdfBytes, importHkdfKey } from './kdf.ts';

/**
 * Everything an account derives from its secret S, each by HKDF-SHA-256 with an empty salt and
 * its own versioned `info` label:
 *
 *   signing seed  = HKDF(S, "wos/v1/account-signing", 32)      → Ed25519 key pair
 *   storage root₀ = HKDF(S, "wos/v1/storage-root/epoch-0", 32) → HKDF key for storage/keys.ts
 *   mesh key      = base64url(HKDF(S, "wos/v1/personal-mesh", 32))   (43 characters)
 *
 * Every device that holds S derives the same keys, so all of them sign as the account, read the
 * files of storage epoch 0 and meet in the same personal mesh. Storage epochs after a revocation
 * use random keys that are not derived from S (see epoch-keys.ts and docs/ACCOUNTS.md).
 */
export const ACCOUNT_SIGNING_INFO = 'wos/v1/account-signing';
export const STORAGE_ROOT_EPOCH0_INFO = 'wos/v1/storage-root/epoch-0';
export const PERSONAL_MESH_INFO = 'wos/v1/personal-mesh';

export interface AccountKeys {
  /** Raw Ed25519 public key (32 bytes): the account's identity. */
  readonly publicKey: Uint8Array;
  /** Non-extractable Ed25519 signing key. */
  readonly signingKey: CryptoKey;
  /** Storage root key of epoch 0: non-extractable HKDF key (storage/keys.ts). */
  readonly storageRootEpoch0: CryptoKey;
  /** The personal mesh key (identity.ts format), the same on every device of the account. */
  readonly meshKey: string;
  /** Signs `data` with the account key (64-byte Ed25519 signature). */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** Derives the account keys; the raw derived bytes are dropped once imported. */
export async function deriveAccountKeys(
  subtle: SubtleCrypto,
  secret: AccountSecret,
): Promise<AccountKeys> {
  checkAccountSecret(secret);
  const base = await importHkdfKey(subtle, secret);
  const [seed, root, mesh] = await Promise.all([
    hkdfBytes(subtle, base, ACCOUNT_SIGNING_INFO, 32),
    hkdfBytes(subtle, base, STORAGE_ROOT_EPOCH0_INFO, ROOT_KEY_BYTES),
    hkdfBytes(subtle, base, PERSONAL_MESH_INFO, 32),
  ]);
  const pair = await ed25519FromSeed(subtle, seed);
  const storageRootEpoch0 = await importStorageRootKey(subtle, root);
  seed.fill(0);
  root.fill(0);
  const signingKey = pair.privateKey;
  return {
    publicKey: pair.publicKey,
    signingKey,
    storageRootEpoch0,
    meshKey: checkMeshKey(toBase64Url(mesh)),
    sign: (data) => ed25519Sign(subtle, signingKey, data),
  };
}
