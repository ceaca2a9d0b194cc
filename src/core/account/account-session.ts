import { fromBase64Url, toBase64Url, utf8 } from '../bytes.ts';
import { ArgumentError, WosError } from '../errors.ts';
import type { DeviceIdentity } from '../identity.ts';
import { importStorageRootKey } from '../storage/keys.ts';
import { AccountApiError, type AccountApi } from './account-api.ts';
import { deriveAccountKeys, type AccountKeys } from './account-keys.ts';
import { signRegister, signUpdate } from './account-requests.ts';
import { newAccountSecret, type AccountSecret } from './account-secret.ts';
import type { AccountStore, DeviceAccountKeys, StoredAccount } from './account-store.ts';
import { issueCertificate, type Certificate, type DeviceKind } from './certificate.ts';
import { generateDeviceWrapKey, unwrapOnDevice, wrapForDevice } from './device-wrap.ts';
import { generateBoxKeyPair, grantEpochKey, openEpochGrant } from './epoch-keys.ts';
import type { GrantStore } from './grant-relay.ts';
import { checkHandleKey, formatHandle, handleOf, parseHandle } from './handle.ts';
import {
  DEFAULT_SCRYPT,
  derivePassphraseKeys,
  openSecretFromServer,
  sealSecretForServer,
  type ScryptParams,
} from './passphrase.ts';
import type { PairingHostSource, PairingResult } from './pairing.ts';
import { formatRecoveryCode, parseRecoveryCode } from './recovery-code.ts';
import { emptyRevocations, mergeRevocations, type RevocationList } from './revocation.ts';

/**
 * This device's account session (platform-free): creating an account, signing in by recovery
 * code or handle + passphrase, setting the passphrase on the server, signing out. What it keeps
 * goes to an `AccountStore`, every secret wrapped under the device wrap key; in memory it holds
 * the derived, non-extractable account keys (signing key, storage root of epoch 0, personal mesh
 * key). Other parts (mesh admission, revocation, pairing) read `accountKey`, `certificate`,
 * `revocations` and `keys`, and record what they learn with `saveRevocations` / `acceptGrant`.
 */
export type AccountSessionErrorCode =
  | 'ACCOUNT_NOT_SIGNED_IN'
  | 'ACCOUNT_SIGNED_OUT_ELSEWHERE'
  | 'ACCOUNT_SIGNED_IN'
  | 'ACCOUNT_HANDLE_UNKNOWN'
  | 'ACCOUNT_KEY_MISMATCH'
  | 'PASSPHRASE_CURRENT_REQUIRED';

export class AccountSessionError extends WosError {
  declare readonly code: AccountSessionErrorCode;
  constructor(code: AccountSessionErrorCode, message: string) {
    super(code, message);
  }
}

export interface AccountSessionDeps {
  readonly subtle: SubtleCrypto;
  readonly random: (n: number) => Uint8Array;
  readonly clock: { now(): number };
  readonly store: AccountStore;
  readonly api: AccountApi;
  /** This device's identity key (identity.ts): what its certificate vouches for. */
  readonly device: DeviceIdentity;
  readonly kind?: DeviceKind;
  /** Name for this device's certificate when the caller gives none. */
  readonly defaultDeviceName?: string;
  /** Scrypt parameters for new passphrases (default N = 2^16, r = 8, p = 1). */
  readonly scrypt?: ScryptParams;
}

/** What `current()` tells about the signed-in account. */
export interface AccountInfo {
  /** `name#tag`; null after a recovery-code sign-in that did not name the handle. */
  readonly handle: string | null;
  /** Account public key (Ed25519, base64url). */
  readonly accountKey: string;
  readonly deviceId: string;
  readonly certificate: Certificate;
  /** Whether this device knows the passphrase login key (it set it or signed in with it). */
  readonly passphrase: boolean;
}

interface Live {
  readonly stored: StoredAccount;
  readonly keys: AccountKeys;
}

const SECRET_PURPOSE = 'account-secret';
const LOGIN_PURPOSE = 'login-key';
const epochPurpose = (e: number): string => `epoch-${e}`;

export class AccountSession {
  #live: Live | undefined;
  #loadError: WosError | undefined;
  readonly #listeners = new Set<(info: AccountInfo | null) => void>();

  private constructor(private readonly d: AccountSessionDeps) {}

  /** Opens the session of this device: the stored account, if any, unwrapped and derived. */
  static async open(deps: AccountSessionDeps): Promise<AccountSession> {
    const s = new AccountSession(deps);
    const stored = await deps.store.load();
    if (stored) {
      try {
        const secret = await s.#unwrap(SECRET_PURPOSE, stored.wrappedSecret);
        const keys = await deriveAccountKeys(deps.subtle, secret);
        secret.fill(0);
        if (toBase64Url(keys.publicKey) !== stored.accountKey) {
          throw new AccountSessionError(
            'ACCOUNT_KEY_MISMATCH',
            'the stored account secret does not belong to the stored account; sign in again',
          );
        }
        s.#live = { stored, keys };
      } catch (e) {
        // Damaged or foreign record: signed out, with the reason kept for the UI.
        s.#loadError = e instanceof WosError ? e : new WosError('ACCOUNT_LOAD', String(e));
      }
    }
    return s;
  }

  /** Why a stored account could not be opened at start (then the session is signed out). */
  get loadError(): WosError | undefined {
    return this.#loadError;
  }

  current(): AccountInfo | null {
    const l = this.#live;
    if (!l) return null;
    return {
      handle: l.stored.handle,
      accountKey: l.stored.accountKey,
      deviceId: this.d.device.deviceId,
      certificate: l.stored.certificate,
      passphrase: l.stored.wrappedLoginKey !== undefined,
    };
  }

  /** The derived account keys (signing key, storage root of epoch 0, personal mesh key). */
  get keys(): AccountKeys | undefined {
    return this.#live?.keys;
  }

  /** Raw account public key (32 bytes). */
  get accountKey(): Uint8Array | undefined {
    return this.#live?.keys.publicKey;
  }

  get certificate(): Certificate | undefined {
    return this.#live?.stored.certificate;
  }

  get revocations(): RevocationList | undefined {
    return this.#live?.stored.revocations;
  }

  /** The storage epochs this device holds keys for, 0 included, ascending. */
  get epochs(): number[] {
    const l = this.#live;
    if (!l) return [];
    return [0, ...l.stored.epochKeys.map((k) => k.epoch)].sort((a, b) => a - b);
  }

  /** Called after every sign-in, creation and sign-out of this session. */
  onChange(fn: (info: AccountInfo | null) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** The storage root key of `epoch` (default: the newest this device holds). */
  async storageRootKey(epoch?: number): Promise<CryptoKey> {
    const l = this.#require();
    const e = epoch ?? Math.max(...this.epochs);
    if (e === 0) return l.keys.storageRootEpoch0;
    const held = l.stored.epochKeys.find((k) => k.epoch === e);
    if (!held) {
      throw new ArgumentError(`this device holds no key of storage epoch ${e}`);
    }
    const raw = await this.#unwrap(epochPurpose(e), held.wrapped);
    try {
      return await importStorageRootKey(this.d.subtle, raw);
    } finally {
      raw.fill(0);
    }
  }

  /** A new account: returns its handle and the recovery code, to be shown once. */
  async create(
    name: string,
    deviceName?: string,
  ): Promise<{ handle: string; recoveryCode: string }> {
    this.#requireSignedOut();
    const secret = newAccountSecret(this.d.random);
    const keys = await deriveAccountKeys(this.d.subtle, secret);
    const handle = formatHandle(await handleOf(this.d.subtle, name, keys.publicKey));
    const recoveryCode = formatRecoveryCode(secret);
    await this.#enrol(secret, keys, handle, deviceName);
    return { handle, recoveryCode };
  }

  /**
   * Signs in with the recovery code. `handle` (`name#tag`, or just the name) is optional: the
   * code holds only the secret, so without it the handle stays unknown on this device.
   */
  async signInWithRecoveryCode(
    code: string,
    deviceName?: string,
    handle?: string,
  ): Promise<AccountInfo> {
    this.#requireSignedOut();
    const secret = parseRecoveryCode(code);
    const keys = await deriveAccountKeys(this.d.subtle, secret);
    let h: string | null = null;
    if (handle !== undefined && handle.trim() !== '') {
      if (handle.includes('#')) {
        const parsed = parseHandle(handle);
        await checkHandleKey(this.d.subtle, parsed, keys.publicKey);
        h = formatHandle(parsed);
      } else {
        h = formatHandle(await handleOf(this.d.subtle, handle, keys.publicKey));
      }
    }
    await this.#enrol(secret, keys, h, deviceName);
    return this.current()!;
  }

  /**
   * Signs in with the secret another device sent while pairing (pairing.ts), and keeps the
   * epoch grants it sent for this device. The handle comes from that device when it knows it.
   */
  async signInWithPairing(result: PairingResult, deviceName?: string): Promise<AccountInfo> {
    this.#requireSignedOut();
    const keys = await deriveAccountKeys(this.d.subtle, result.secret);
    let h: string | null = null;
    if (result.handle) {
      const parsed = parseHandle(result.handle);
      await checkHandleKey(this.d.subtle, parsed, keys.publicKey);
      h = formatHandle(parsed);
    }
    await this.#enrol(result.secret, keys, h, deviceName);
    for (const g of result.grants) await this.acceptGrant(g);
    return this.current()!;
  }

  /**
   * What this device gives a device it pairs with (after the user compared the words): the
   * secret, the handle, and a grant of every storage epoch ≥ 1 it holds for the new device's
   * box key — the approval that docs/ACCOUNTS.md's first revocation rule asks for.
   */
  pairingSource(): PairingHostSource {
    return {
      secret: async () => this.#unwrap(SECRET_PURPOSE, this.#require().stored.wrappedSecret),
      handle: () => this.#live?.stored.handle ?? null,
      grantsFor: async (device) => {
        const l = this.#require();
        const grants: unknown[] = [];
        for (const e of this.epochs.filter((x) => x > 0)) {
          const key = await this.exportEpochKey(e);
          try {
            grants.push(
              await grantEpochKey(this.d.subtle, this.d.random, l.keys, e, key, {
                id: device.id,
                box: device.box,
              }),
            );
          } finally {
            key.fill(0);
          }
        }
        return grants;
      },
    };
  }

  /** Handle + passphrase: params → scrypt → login → open the sealed secret. */
  async signInWithPassphrase(
    handle: string,
    passphrase: string,
    deviceName?: string,
  ): Promise<AccountInfo> {
    this.#requireSignedOut();
    const parsed = parseHandle(handle);
    const h = formatHandle(parsed);
    const { salt, kdf } = await this.d.api.params(h);
    const pk = await derivePassphraseKeys(this.d.subtle, passphrase, fromBase64Url(salt), kdf);
    const answer = await this.d.api.login(h, pk.loginKey);
    const secret = await openSecretFromServer(this.d.subtle, pk, h, answer.sealedSecret);
    const keys = await deriveAccountKeys(this.d.subtle, secret);
    if (toBase64Url(keys.publicKey) !== answer.accountKey) {
      secret.fill(0);
      throw new AccountSessionError(
        'ACCOUNT_KEY_MISMATCH',
        `the secret stored for ${h} is not the secret of the account key the server names; ` +
          "the server's record is damaged or not to be trusted",
      );
    }
    try {
      await checkHandleKey(this.d.subtle, parsed, keys.publicKey);
    } catch (e) {
      secret.fill(0);
      throw e;
    }
    await this.#enrol(secret, keys, h, deviceName, pk.loginKey);
    return this.current()!;
  }

  /**
   * Sets the passphrase that signs in to this account from any device: registers it on the
   * server, or changes it when this device knows the current one (it set it or signed in with
   * it) or `current` gives it.
   */
  async setPassphrase(passphrase: string, current?: string): Promise<void> {
    const l = this.#require();
    const handle = l.stored.handle;
    if (handle === null) {
      throw new AccountSessionError(
        'ACCOUNT_HANDLE_UNKNOWN',
        "this device does not know the account's handle (signed in by recovery code alone); " +
          'sign in again with the recovery code and the handle',
      );
    }
    const secret = await this.#unwrap(SECRET_PURPOSE, l.stored.wrappedSecret);
    let rec;
    try {
      rec = await sealSecretForServer(
        this.d.subtle,
        this.d.random,
        handle,
        passphrase,
        secret,
        this.d.scrypt ?? DEFAULT_SCRYPT,
      );
    } finally {
      secret.fill(0);
    }
    let oldLogin: string | undefined;
    if (l.stored.wrappedLoginKey) {
      const raw = await this.#unwrap(LOGIN_PURPOSE, l.stored.wrappedLoginKey);
      oldLogin = new TextDecoder().decode(raw);
      raw.fill(0);
    } else if (current !== undefined) {
      const { salt, kdf } = await this.d.api.params(handle);
      oldLogin = (await derivePassphraseKeys(this.d.subtle, current, fromBase64Url(salt), kdf))
        .loginKey;
    }
    if (oldLogin !== undefined) {
      const update = await signUpdate(this.d.subtle, l.keys, await this.d.api.challenge(), {
        handle,
        loginKey: oldLogin,
        newSalt: rec.salt,
        newKdf: rec.params,
        newLoginKey: rec.loginKey,
        newSealedSecret: rec.sealedSecret,
      });
      await this.d.api.update(update);
    } else {
      try {
        const register = await signRegister(this.d.subtle, l.keys, await this.d.api.challenge(), {
          handle,
          salt: rec.salt,
          kdf: rec.params,
          loginKey: rec.loginKey,
          sealedSecret: rec.sealedSecret,
        });
        await this.d.api.register(register);
      } catch (e) {
        if (
          e instanceof AccountApiError &&
          (e.code === 'HANDLE_TAKEN' || e.code === 'ACCOUNT_KEY_TAKEN')
        ) {
          throw new AccountSessionError(
            'PASSPHRASE_CURRENT_REQUIRED',
            `${handle} already has a passphrase on the server; give the current passphrase to ` +
              'change it',
          );
        }
        throw e;
      }
    }
    const wrappedLoginKey = await this.#wrap(LOGIN_PURPOSE, utf8(rec.loginKey));
    await this.#update(async (s) => ({ ...s, wrappedLoginKey }));
  }

  /** Forgets the account on this device (every tab of the profile, from their next start). */
  async signOut(): Promise<void> {
    await this.d.store.exclusive(() => this.d.store.clear());
    this.#live = undefined;
    this.#emit();
  }

  /** Merges a received revocation list into the stored one (mergeRevocations) and keeps it. */
  async saveRevocations(incoming: unknown): Promise<{ changed: boolean; conflict: boolean }> {
    const l = this.#require();
    let result = { changed: false, conflict: false };
    await this.#update(async (s) => {
      const r = await mergeRevocations(this.d.subtle, l.keys.publicKey, s.revocations, incoming);
      result = { changed: r.changed, conflict: r.conflict };
      return r.changed ? { ...s, revocations: r.list } : s;
    });
    return result;
  }

  /** Opens an epoch grant addressed to this device and keeps its key (wrapped). */
  async acceptGrant(grant: unknown): Promise<number> {
    const l = this.#require();
    const dk = await this.#deviceKeys();
    const { epoch, key } = await openEpochGrant(this.d.subtle, grant, l.keys.publicKey, {
      deviceId: this.d.device.deviceId,
      boxPrivateKey: dk.box.privateKey,
      boxPublicKey: dk.boxPublicKey,
    });
    await this.addEpochKey(epoch, key);
    key.fill(0);
    return epoch;
  }

  /** Keeps a storage epoch key (raw 32 bytes, wrapped at rest) this device made or received. */
  async addEpochKey(epoch: number, key: Uint8Array): Promise<void> {
    this.#require();
    if (!Number.isSafeInteger(epoch) || epoch < 1) {
      throw new ArgumentError('epoch keys from 1 on are kept; epoch 0 derives from the secret');
    }
    const wrapped = await this.#wrap(epochPurpose(epoch), key);
    await this.#update(async (s) => {
      const epochKeys = [...s.epochKeys.filter((k) => k.epoch !== epoch), { epoch, wrapped }];
      epochKeys.sort((a, b) => a.epoch - b.epoch);
      return { ...s, epochKeys };
    });
  }

  /** The raw key of a held epoch ≥ 1, to grant it to another device. Zero it after use. */
  async exportEpochKey(epoch: number): Promise<Uint8Array> {
    const l = this.#require();
    const held = l.stored.epochKeys.find((k) => k.epoch === epoch);
    if (!held) throw new ArgumentError(`this device holds no key of storage epoch ${epoch}`);
    return this.#unwrap(epochPurpose(epoch), held.wrapped);
  }

  /** This device's box public key (65 bytes), made on first use. */
  async boxPublicKey(): Promise<Uint8Array> {
    return (await this.#deviceKeys()).boxPublicKey;
  }

  async #enrol(
    secret: AccountSecret,
    keys: AccountKeys,
    handle: string | null,
    deviceName: string | undefined,
    loginKey?: string,
  ): Promise<void> {
    try {
      const dk = await this.#deviceKeys();
      const serial = new DataView(this.d.random(4).buffer.slice(0)).getUint32(0);
      const certificate = await issueCertificate(this.d.subtle, keys, {
        deviceKey: this.d.device.publicKey,
        boxKey: dk.boxPublicKey,
        name: (deviceName ?? this.d.defaultDeviceName ?? 'Browser').trim() || 'Browser',
        kind: this.d.kind ?? 'tab',
        issued: this.d.clock.now(),
        serial,
      });
      const stored: StoredAccount = {
        handle,
        accountKey: toBase64Url(keys.publicKey),
        wrappedSecret: await this.#wrap(SECRET_PURPOSE, secret),
        certificate,
        revocations: await emptyRevocations(keys),
        epochKeys: [],
        ...(loginKey !== undefined
          ? { wrappedLoginKey: await this.#wrap(LOGIN_PURPOSE, utf8(loginKey)) }
          : {}),
        since: this.d.clock.now(),
      };
      await this.d.store.exclusive(() => this.d.store.save(stored));
      this.#live = { stored, keys };
      this.#loadError = undefined;
    } finally {
      secret.fill(0);
    }
    this.#emit();
  }

  /**
   * Reads the stored record again (another tab of this profile may have changed it: a grant,
   * a newer list), applies `change` and saves, all under the store's lock: no tab overwrites
   * what another one kept. A record another tab removed (signed out) or replaced (another
   * account) is never written back.
   */
  async #update(change: (s: StoredAccount) => Promise<StoredAccount>): Promise<void> {
    const l = this.#require();
    await this.d.store.exclusive(async () => {
      const base = await this.d.store.load();
      if (!base || base.accountKey !== l.stored.accountKey) {
        throw new AccountSessionError(
          'ACCOUNT_SIGNED_OUT_ELSEWHERE',
          'another tab of this browser profile signed out of this account (or into another ' +
            'one); nothing was saved: reload this tab',
        );
      }
      const stored = await change(base);
      if (stored !== base) await this.d.store.save(stored);
      this.#live = { stored, keys: l.keys };
    });
  }

  /** The stored record when it is still this account's, else what this tab holds. */
  async #latest(l: Live): Promise<StoredAccount> {
    const s = await this.d.store.load();
    return s && s.accountKey === l.stored.accountKey ? s : l.stored;
  }

  /** Takes up what another tab of this profile stored (epoch keys, lists) since. */
  async refresh(): Promise<void> {
    const l = this.#live;
    if (l) this.#live = { stored: await this.#latest(l), keys: l.keys };
  }

  /** Grants relayed for other devices (grant-relay.ts), kept in this profile's store. */
  get grantStore(): GrantStore {
    const { store } = this.d;
    return {
      loadGrants: () => store.loadGrants(),
      putGrant: (id, g) => store.putGrant(id, g),
      deleteGrant: (id) => store.deleteGrant(id),
    };
  }

  #deviceKeys(): Promise<DeviceAccountKeys> {
    return this.d.store.deviceKeys(async () => {
      const wrapKey = await generateDeviceWrapKey(this.d.subtle);
      const box = await generateBoxKeyPair(this.d.subtle);
      return { wrapKey, box: box.keyPair, boxPublicKey: box.publicKey };
    });
  }

  async #wrap(purpose: string, secret: Uint8Array): Promise<Uint8Array> {
    const dk = await this.#deviceKeys();
    return wrapForDevice(
      this.d.subtle,
      this.d.random,
      dk.wrapKey,
      { purpose, deviceId: this.d.device.deviceId },
      secret,
    );
  }

  async #unwrap(purpose: string, blob: Uint8Array): Promise<Uint8Array> {
    const dk = await this.#deviceKeys();
    return unwrapOnDevice(
      this.d.subtle,
      dk.wrapKey,
      { purpose, deviceId: this.d.device.deviceId },
      blob,
    );
  }

  #require(): Live {
    if (!this.#live) {
      throw new AccountSessionError(
        'ACCOUNT_NOT_SIGNED_IN',
        'this device is not signed in to an account; create one or sign in first',
      );
    }
    return this.#live;
  }

  #requireSignedOut(): void {
    if (this.#live) {
      throw new AccountSessionError(
        'ACCOUNT_SIGNED_IN',
        `this device is already signed in (${this.#live.stored.handle ?? 'account'}); ` +
          'sign out first',
      );
    }
  }

  #emit(): void {
    const info = this.current();
    for (const fn of this.#listeners) fn(info);
  }
}
