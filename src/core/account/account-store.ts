import type { Certificate } from './certificate.ts';
import type { RevocationList } from './revocation.ts';

/**
 * Where a device keeps its account (IndexedDB in a tab: platform/account/idb-account-store.ts;
 * memory in tests). Nothing in here is a raw secret: the account secret, the storage epoch keys
 * and the passphrase login key are blobs made by `wrapForDevice` under the device wrap key, a
 * non-extractable AES-GCM key that never leaves WebCrypto.
 */
export interface DeviceAccountKeys {
  /** Non-extractable AES-256-GCM key for `wrapForDevice` (device-wrap.ts). */
  readonly wrapKey: CryptoKey;
  /** ECDH P-256 box key pair (private key non-extractable) that epoch grants are sealed to. */
  readonly box: CryptoKeyPair;
  /** Raw box public key (65 bytes), as it goes into the certificate. */
  readonly boxPublicKey: Uint8Array;
}

export interface StoredEpochKey {
  readonly epoch: number;
  /** `wrapForDevice(…, purpose "epoch-<epoch>")` of the raw 32-byte epoch root. */
  readonly wrapped: Uint8Array;
}

export interface StoredAccount {
  /** `name#tag`, or null when signed in by recovery code without naming the handle. */
  readonly handle: string | null;
  /** Account public key (Ed25519, base64url). */
  readonly accountKey: string;
  /** `wrapForDevice(…, purpose "account-secret")` of the 32-byte account secret. */
  readonly wrappedSecret: Uint8Array;
  /** This device's certificate, signed by the account. */
  readonly certificate: Certificate;
  /** The newest revocation list this device holds. */
  readonly revocations: RevocationList;
  /** Storage epoch keys ≥ 1 this device was granted (epoch 0 derives from the secret). */
  readonly epochKeys: readonly StoredEpochKey[];
  /**
   * `wrapForDevice(…, purpose "login-key")` of the passphrase login key (base64url text as
   * UTF-8), kept when this device set or signed in with the passphrase so that it can change it.
   */
  readonly wrappedLoginKey?: Uint8Array;
  /** When this device joined the account (ms). */
  readonly since: number;
}

export interface AccountStore {
  /** This profile's wrap key and box key pair, made on first use (the same for every tab). */
  deviceKeys(make: () => Promise<DeviceAccountKeys>): Promise<DeviceAccountKeys>;
  load(): Promise<StoredAccount | undefined>;
  save(account: StoredAccount): Promise<void>;
  /** Forgets the account and its relayed grants (signing out); the device keys stay. */
  clear(): Promise<void>;
  /**
   * Runs `fn` while no other `exclusive` call on this profile's store runs, in this tab or
   * another (a read, a change and a save of the account record, so no tab's save undoes
   * another's). Not re-entrant: `fn` must not call `exclusive` again.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Epoch grants this device relays for other devices (grant-relay.ts), by id `device/epoch`.
   * Each is sealed to its target's box key and signed by the account: safe to keep as is.
   */
  loadGrants(): Promise<unknown[]>;
  putGrant(id: string, grant: unknown): Promise<void>;
  deleteGrant(id: string): Promise<void>;
}

/** An in-memory `AccountStore` (unit tests, and nodes that keep nothing). */
export class MemoryAccountStore implements AccountStore {
  #keys: Promise<DeviceAccountKeys> | undefined;
  #account: StoredAccount | undefined;
  readonly #grants = new Map<string, unknown>();
  #turn: Promise<unknown> = Promise.resolve();

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(fn);
    this.#turn = run.catch(() => {});
    return run;
  }

  deviceKeys(make: () => Promise<DeviceAccountKeys>): Promise<DeviceAccountKeys> {
    this.#keys ??= make();
    return this.#keys;
  }

  load(): Promise<StoredAccount | undefined> {
    return Promise.resolve(this.#account && structuredClone(this.#account));
  }

  save(account: StoredAccount): Promise<void> {
    this.#account = structuredClone(account);
    return Promise.resolve();
  }

  clear(): Promise<void> {
    this.#account = undefined;
    this.#grants.clear();
    return Promise.resolve();
  }

  loadGrants(): Promise<unknown[]> {
    return Promise.resolve([...this.#grants.values()].map((g) => structuredClone(g)));
  }

  putGrant(id: string, grant: unknown): Promise<void> {
    this.#grants.set(id, structuredClone(grant));
    return Promise.resolve();
  }

  deleteGrant(id: string): Promise<void> {
    this.#grants.delete(id);
    return Promise.resolve();
  }
}
