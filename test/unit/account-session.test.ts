import { afterEach, describe, expect, it } from 'vitest';
import {
  AccountApiError,
  type AccountApi,
  type DeleteRequest,
  type RegisterRequest,
  type UpdateRequest,
} from '../../src/core/account/account-api.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import { loginKeyHash, registerBytes } from '../../src/core/account/account-requests.ts';
import { ed25519Verify } from '../../src/core/account/ed25519.ts';
import { AccountSession, type AccountSessionDeps } from '../../src/core/account/account-session.ts';
import { MemoryAccountStore } from '../../src/core/account/account-store.ts';
import { verifyCertificate } from '../../src/core/account/certificate.ts';
import { grantEpochKey, newEpochKey } from '../../src/core/account/epoch-keys.ts';
import { parseRecoveryCode } from '../../src/core/account/recovery-code.ts';
import { revokeDevices } from '../../src/core/account/revocation.ts';
import { fromBase64Url, toBase64Url } from '../../src/core/bytes.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';
import { deriveListTag } from '../../src/core/storage/owner.ts';
import { HttpAccountApi } from '../../src/platform/account/http-account-api.ts';
import { closeAll, startServer } from '../server/helpers.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
/** The cheapest parameters the client accepts (N·r·p = 2^18), to keep the tests fast. */
const FAST = { N: 2 ** 15, r: 8, p: 1 };

interface Row {
  accountKey: string;
  salt: string;
  kdf: RegisterRequest['kdf'];
  loginKey: string;
  sealedSecret: string;
}

/** What the server does, in memory: records by handle, LOGIN_FAILED, per-handle limit. */
class FakeApi implements AccountApi {
  rows = new Map<string, Row>();
  failures = new Map<string, number>();
  requests: string[] = [];

  challenge() {
    return Promise.resolve(toBase64Url(random(40)));
  }
  async register(r: RegisterRequest) {
    this.requests.push(JSON.stringify(r));
    // As the server does: the account key signed exactly these fields.
    const bytes = registerBytes({
      handle: r.handle,
      accountKey: fromBase64Url(r.accountKey),
      nonce: fromBase64Url(r.nonce),
      salt: fromBase64Url(r.salt),
      kdf: r.kdf,
      loginKeyHash: await loginKeyHash(subtle, fromBase64Url(r.loginKey)),
      sealedSecret: fromBase64Url(r.sealedSecret),
    });
    if (!(await ed25519Verify(subtle, fromBase64Url(r.accountKey), bytes, fromBase64Url(r.sig))))
      throw AccountApiError.fromServer(400, 'REGISTRATION_BAD_SIGNATURE', '');
    if (this.rows.has(r.handle))
      return Promise.reject(AccountApiError.fromServer(409, 'HANDLE_TAKEN', ''));
    if ([...this.rows.values()].some((x) => x.accountKey === r.accountKey))
      return Promise.reject(AccountApiError.fromServer(409, 'ACCOUNT_KEY_TAKEN', ''));
    this.rows.set(r.handle, { ...r });
    return Promise.resolve({ handle: r.handle, createdAt: 1 });
  }
  params(handle: string) {
    this.requests.push(JSON.stringify({ handle }));
    const row = this.rows.get(handle);
    return Promise.resolve(
      row ? { salt: row.salt, kdf: row.kdf } : { salt: toBase64Url(new Uint8Array(16)), kdf: FAST },
    );
  }
  #check(handle: string, loginKey: string): Row {
    if ((this.failures.get(handle) ?? 0) >= 5)
      throw AccountApiError.fromServer(429, 'LOGIN_RATE_LIMITED', '', 900);
    const row = this.rows.get(handle);
    if (!row || row.loginKey !== loginKey) {
      this.failures.set(handle, (this.failures.get(handle) ?? 0) + 1);
      throw AccountApiError.fromServer(401, 'LOGIN_FAILED', '');
    }
    this.failures.delete(handle);
    return row;
  }
  login(handle: string, loginKey: string) {
    this.requests.push(JSON.stringify({ handle, loginKey }));
    try {
      const row = this.#check(handle, loginKey);
      return Promise.resolve({
        handle,
        accountKey: row.accountKey,
        sealedSecret: row.sealedSecret,
      });
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  update(r: UpdateRequest) {
    this.requests.push(JSON.stringify(r));
    try {
      const row = this.#check(r.handle, r.loginKey);
      Object.assign(row, {
        salt: r.newSalt,
        kdf: r.newKdf,
        loginKey: r.newLoginKey,
        sealedSecret: r.newSealedSecret,
      });
      return Promise.resolve({ updatedAt: 2 });
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  delete(r: DeleteRequest) {
    try {
      this.#check(r.handle, r.loginKey);
      this.rows.delete(r.handle);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
}

async function device(api: AccountApi, store = new MemoryAccountStore()) {
  const identity = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
  const deps: AccountSessionDeps = {
    subtle,
    random,
    clock: { now: () => 1_700_000_000_000 },
    store,
    api,
    device: identity,
    scrypt: FAST,
  };
  return { identity, store, deps, session: await AccountSession.open(deps) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

describe('AccountSession (in-memory store, fake server)', () => {
  it('creates an account: handle, recovery code, self-issued certificate, empty revocations', async () => {
    const api = new FakeApi();
    const d1 = await device(api);
    expect(d1.session.current()).toBeNull();
    const { handle, recoveryCode } = await d1.session.create('Alice', 'Laptop');
    expect(handle).toMatch(/^alice#[a-z2-7]{4}$/);
    const keys = await deriveAccountKeys(subtle, parseRecoveryCode(recoveryCode));
    const info = d1.session.current()!;
    expect(info.handle).toBe(handle);
    expect(info.accountKey).toBe(toBase64Url(keys.publicKey));
    expect(info.deviceId).toBe(d1.identity.deviceId);
    const cert = await verifyCertificate(subtle, info.certificate, keys.publicKey);
    expect(cert.device.key).toBe(toBase64Url(d1.identity.publicKey));
    expect(cert.device.box).toBe(toBase64Url(await d1.session.boxPublicKey()));
    expect(cert.name).toBe('Laptop');
    expect(d1.session.revocations).toMatchObject({ version: 0, epoch: 0, revoked: [] });
    expect(d1.session.keys!.meshKey).toBe(keys.meshKey);
    // The storage root is the account's epoch 0 (same listing tag as derived from the code).
    expect(await deriveListTag(subtle, await d1.session.storageRootKey())).toBe(
      await deriveListTag(subtle, keys.storageRootEpoch0),
    );
    expect(await codeOf(d1.session.create('bob'))).toBe('ACCOUNT_SIGNED_IN');
    expect(await codeOf(d1.session.create('no#pe'))).toBe('ACCOUNT_SIGNED_IN');
  });

  it('keeps only wrapped secrets, and a new session of the same store resumes the account', async () => {
    const api = new FakeApi();
    const d1 = await device(api);
    const { recoveryCode } = await d1.session.create('alice');
    const secret = parseRecoveryCode(recoveryCode);
    const stored = (await d1.store.load())!;
    const hay = Buffer.from(
      JSON.stringify(stored, (_k, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
      ),
    );
    expect(hay.includes(Buffer.from(secret).toString('hex'))).toBe(false);
    expect(stored.wrappedSecret.length).toBe(1 + 12 + 32 + 16);
    const again = await AccountSession.open(d1.deps);
    expect(again.current()).toEqual(d1.session.current());
    expect(again.keys!.meshKey).toBe(d1.session.keys!.meshKey);
    // Another device cannot open this store's blobs (its wrap key and device id differ).
    const other = await device(api);
    await other.store.save(stored);
    const broken = await AccountSession.open(other.deps);
    expect(broken.current()).toBeNull();
    expect(broken.loadError?.code).toBe('DEVICE_WRAP_UNOPENABLE');
  });

  it('signs in on another device by handle + passphrase, and by recovery code', async () => {
    const api = new FakeApi();
    const d1 = await device(api);
    const { handle, recoveryCode } = await d1.session.create('alice');
    expect(await codeOf(d1.session.setPassphrase('short'))).toBe('PASSPHRASE_TOO_SHORT');
    await d1.session.setPassphrase('correct horse battery');
    expect(d1.session.current()!.passphrase).toBe(true);
    // Nothing the server saw holds the passphrase or the secret.
    const seen = api.requests.join('\n');
    expect(seen).not.toContain('correct horse');
    expect(seen).not.toContain(Buffer.from(parseRecoveryCode(recoveryCode)).toString('base64url'));

    const d3 = await device(api);
    expect(await codeOf(d3.session.signInWithPassphrase(handle, 'wrong passphrase!'))).toBe(
      'LOGIN_FAILED',
    );
    expect(await codeOf(d3.session.signInWithPassphrase('alice', 'x'.repeat(8)))).toBe(
      'HANDLE_MALFORMED',
    );
    const info = await d3.session.signInWithPassphrase(
      handle.toUpperCase(),
      'correct horse battery',
      'Phone',
    );
    expect(info.handle).toBe(handle);
    expect(info.accountKey).toBe(d1.session.current()!.accountKey);
    expect(info.certificate.device.id).toBe(d3.identity.deviceId);
    expect(info.certificate.name).toBe('Phone');
    expect(d3.session.keys!.meshKey).toBe(d1.session.keys!.meshKey);

    const d4 = await device(api);
    expect(
      // A changed last character (never the one it already is).
      await codeOf(
        d4.session.signInWithRecoveryCode(
          recoveryCode.slice(0, -1) + (recoveryCode.endsWith('X') ? 'Y' : 'X'),
        ),
      ),
    ).toMatch(/^RECOVERY_CODE_/);
    expect(
      await codeOf(d4.session.signInWithRecoveryCode(recoveryCode, 'Tablet', 'alice#aaaa')),
    ).toBe(handle.endsWith('#aaaa') ? 'no error' : 'HANDLE_TAG_MISMATCH');
    const r = await d4.session.signInWithRecoveryCode(recoveryCode.toLowerCase(), 'Tablet');
    expect(r.handle).toBeNull();
    expect(r.accountKey).toBe(info.accountKey);
    expect(await codeOf(d4.session.setPassphrase('another passphrase'))).toBe(
      'ACCOUNT_HANDLE_UNKNOWN',
    );
    await d4.session.signOut();
    await d4.session.signInWithRecoveryCode(recoveryCode, 'Tablet', 'Alice');
    expect(d4.session.current()!.handle).toBe(handle);
    // d4 does not know the passphrase: registering again is refused, the current one changes it.
    expect(await codeOf(d4.session.setPassphrase('another passphrase'))).toBe(
      'PASSPHRASE_CURRENT_REQUIRED',
    );
    expect(await codeOf(d4.session.setPassphrase('another passphrase', 'not the one!'))).toBe(
      'LOGIN_FAILED',
    );
    await d4.session.setPassphrase('another passphrase', 'correct horse battery');
    // d1 knew the old login key; after the change the server refuses it.
    expect(await codeOf(d1.session.setPassphrase('third passphrase'))).toBe('LOGIN_FAILED');
    const d5 = await device(api);
    expect(await codeOf(d5.session.signInWithPassphrase(handle, 'correct horse battery'))).toBe(
      'LOGIN_FAILED',
    );
    await d5.session.signInWithPassphrase(handle, 'another passphrase');
    expect(d5.session.current()!.accountKey).toBe(info.accountKey);
  });

  it('maps the per-handle limit to LOGIN_RATE_LIMITED and refuses a record for another key', async () => {
    const api = new FakeApi();
    const d1 = await device(api);
    const { handle } = await d1.session.create('alice');
    await d1.session.setPassphrase('correct horse battery');
    const d2 = await device(api);
    for (let i = 0; i < 5; i++) {
      expect(await codeOf(d2.session.signInWithPassphrase(handle, `wrong pass ${i}`))).toBe(
        'LOGIN_FAILED',
      );
    }
    const e = await d2.session
      .signInWithPassphrase(handle, 'correct horse battery')
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AccountApiError);
    expect((e as AccountApiError).code).toBe('LOGIN_RATE_LIMITED');
    expect((e as AccountApiError).retryAfterSec).toBe(900);
    expect(d2.session.current()).toBeNull();

    // A server that names another account key for the sealed secret is caught.
    api.failures.clear();
    const other = await device(new FakeApi());
    await other.session.create('mallory');
    api.rows.get(handle)!.accountKey = other.session.current()!.accountKey;
    expect(await codeOf(d2.session.signInWithPassphrase(handle, 'correct horse battery'))).toBe(
      'ACCOUNT_KEY_MISMATCH',
    );
  });

  it('signs out, keeps revocations and epoch grants', async () => {
    const api = new FakeApi();
    const d1 = await device(api);
    const { recoveryCode } = await d1.session.create('alice');
    const d2 = await device(api);
    await d2.session.signInWithRecoveryCode(recoveryCode);
    const keys = d1.session.keys!;
    const next = await revokeDevices(keys, d1.session.revocations!, ['aaaaaaaaaaaaaaaa'], 5);
    expect(await d2.session.saveRevocations(next)).toEqual({ changed: true, conflict: false });
    const epochKey = newEpochKey(random);
    const grant = await grantEpochKey(subtle, random, keys, 1, epochKey, {
      id: d2.identity.deviceId,
      box: await d2.session.boxPublicKey(),
    });
    expect(await d2.session.acceptGrant(grant)).toBe(1);
    expect(d2.session.epochs).toEqual([0, 1]);
    const resumed = await AccountSession.open(d2.deps);
    expect(resumed.revocations!.version).toBe(1);
    expect(toBase64Url(await resumed.exportEpochKey(1))).toBe(toBase64Url(epochKey));
    expect(await deriveListTag(subtle, await resumed.storageRootKey())).not.toBe(
      await deriveListTag(subtle, keys.storageRootEpoch0),
    );
    expect(await codeOf(d1.session.acceptGrant(grant))).toBe('EPOCH_GRANT_WRONG_DEVICE');

    const changes: (string | null)[] = [];
    d2.session.onChange((i) => changes.push(i?.accountKey ?? null));
    await d2.session.signOut();
    expect(changes).toEqual([null]);
    expect(d2.session.current()).toBeNull();
    expect(await d2.store.load()).toBeUndefined();
    expect((await AccountSession.open(d2.deps)).current()).toBeNull();
    expect(await codeOf(d2.session.setPassphrase('correct horse battery'))).toBe(
      'ACCOUNT_NOT_SIGNED_IN',
    );
  });
});

describe('AccountSession: tabs of one profile (one store)', () => {
  /** Device 1 makes the account; tabs A and B of another device (one store) sign in to it. */
  async function twoTabs() {
    const api = new FakeApi();
    const d1 = await device(api);
    const { recoveryCode } = await d1.session.create('alice');
    const tabA = await device(api);
    await tabA.session.signInWithRecoveryCode(recoveryCode);
    return { d1, tabA, tabB: await AccountSession.open(tabA.deps) };
  }

  it('saves at once in two tabs keep both changes', async () => {
    const { d1, tabA, tabB } = await twoTabs();
    const next = await revokeDevices(
      d1.session.keys!,
      d1.session.revocations!,
      ['aaaaaaaaaaaaaaaa'],
      5,
    );
    // Tab B merges a list (a signature check between its read and its save) while tab A
    // keeps an epoch key: neither save may undo the other.
    await Promise.all([
      tabB.saveRevocations(next),
      tabA.session.addEpochKey(1, newEpochKey(random)),
    ]);
    const stored = await tabA.store.load();
    expect(stored?.revocations.version).toBe(1);
    expect(stored?.epochKeys.map((k) => k.epoch)).toEqual([1]);
  });

  it("a tab that signed out is not signed in again by another tab's save", async () => {
    const { tabA, tabB } = await twoTabs();
    await tabB.signOut();
    expect(await codeOf(tabA.session.addEpochKey(1, newEpochKey(random)))).toBe(
      'ACCOUNT_SIGNED_OUT_ELSEWHERE',
    );
    expect(await tabA.store.load()).toBeUndefined();
    expect((await AccountSession.open(tabA.deps)).current()).toBeNull();
  });
});

describe('AccountSession against the real signaling server', () => {
  afterEach(closeAll);

  it('sets a passphrase and signs in on a second device through /api/account', async () => {
    const server = await startServer({ accounts: { db: ':memory:' } });
    const api = new HttpAccountApi(server.base);
    const d1 = await device(api);
    const { handle, recoveryCode } = await d1.session.create('Zoë');
    await d1.session.setPassphrase('correct horse battery');
    const d3 = await device(api);
    expect(await codeOf(d3.session.signInWithPassphrase(handle, 'wrong passphrase'))).toBe(
      'LOGIN_FAILED',
    );
    expect(
      await codeOf(d3.session.signInWithPassphrase('nobody#aaaa', 'correct horse battery')),
    ).toBe('LOGIN_FAILED');
    const info = await d3.session.signInWithPassphrase(handle, 'correct horse battery');
    expect(info.accountKey).toBe(d1.session.current()!.accountKey);
    expect(d3.session.keys!.meshKey).toBe(d1.session.keys!.meshKey);
    // The same account registering again (from a device without the passphrase) is refused.
    const d4 = await device(api);
    await d4.session.signInWithRecoveryCode(recoveryCode, undefined, 'Zoë');
    expect(await codeOf(d4.session.setPassphrase('correct horse battery'))).toBe(
      'PASSPHRASE_CURRENT_REQUIRED',
    );
    expect(server.logs.join('\n')).not.toContain('correct horse');
    expect(await codeOf(new HttpAccountApi('http://127.0.0.1:1').params(handle))).toBe(
      'ACCOUNT_SERVER_UNREACHABLE',
    );
  });
});
