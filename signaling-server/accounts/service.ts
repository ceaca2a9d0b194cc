import { createHash, createHmac, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import {
  deleteBytes,
  LOGIN_KEY_HASH_LABEL,
  registerBytes,
  updateBytes,
} from '../../src/core/account/account-requests.ts';
import { ed25519Verify } from '../../src/core/account/ed25519.ts';
import { handleTagOf, parseHandle as parseCoreHandle } from '../../src/core/account/handle.ts';
import { WosError } from '../../src/core/errors.ts';
import { Challenges, type LiveChallenge } from './challenge.ts';
import {
  ChallengeError,
  FieldError,
  HandleTagMismatchError,
  LoginFailedError,
  LoginRateLimitedError,
  RegistrationBadSignatureError,
  RequestBadSignatureError,
} from './errors.ts';
import type { Handle } from './handle.ts';
import type { AccountMetrics } from './metrics.ts';
import type { KdfParams, ResolvedAccountOptions } from './options.ts';
import {
  zero,
  type DeleteRequest,
  type LoginRequest,
  type RegisterRequest,
  type UpdateRequest,
} from './requests.ts';
import type { AccountRecord, AccountStore } from './store.ts';
import { LoginThrottle } from './throttle.ts';
import { checkVerifier, decoyVerifier, makeVerifier, type Verifier } from './verifier.ts';

const subtle = webcrypto.subtle as SubtleCrypto;

/**
 * Passphrase sign-in, server side. The server stores what the client derived from the
 * passphrase (salt, scrypt parameters, the sealed account secret), the account public key, and
 * a verifier of the login key; it never sees the passphrase, the account secret or the key that
 * seals it.
 *
 * Register, update and delete are signed by the account key over canonical bytes and a
 * single-use challenge (src/core/account/account-requests.ts): a handle can only be registered
 * by the account its #tag names, and only that account can change or delete the record.
 *
 * Unknown handles and wrong keys take the same path (a decoy verifier, and for signed requests
 * a decoy account key, are checked; the failure is counted) and give the same answer. `params`
 * answers for unknown handles too, with a salt derived from the handle under a server secret:
 * stable, and not telling whether the handle exists. Every method that receives a login key
 * zeroes it. Failed logins are throttled per network (throttle.ts), never for the handle as a
 * whole, so failures from elsewhere cannot lock the owner out.
 */
export class AccountService {
  private readonly decoy: Verifier = decoyVerifier();
  /** A valid Ed25519 key nobody holds: unknown handles' signatures are checked against it. */
  private readonly decoyKey: Uint8Array;
  private readonly throttle: LoginThrottle;
  private readonly challenges: Challenges;

  constructor(
    private readonly store: AccountStore,
    private readonly o: ResolvedAccountOptions,
    private readonly metrics: AccountMetrics,
  ) {
    const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    this.decoyKey = Buffer.from(jwk.x ?? '', 'base64url');
    this.throttle = new LoginThrottle(store, o);
    // Kept in memory only: a restart invalidates outstanding challenges (clients fetch a new
    // one), which also stops replays across a restart without storing anything.
    this.challenges = new Challenges(randomBytes(32), o.challengeTtlMs, o.now);
  }

  /** A fresh challenge for the next signed request. */
  challenge(): { nonce: Buffer; expiresAt: number } {
    return this.challenges.issue();
  }

  async register(r: RegisterRequest): Promise<{ handle: string; createdAt: number }> {
    try {
      const live = this.liveChallenge(r.nonce);
      const tag = coreTag(r.handle);
      const want = await handleTagOf(subtle, r.accountKey);
      if (tag !== want) throw new HandleTagMismatchError(want);
      const bytes = registerBytes({
        handle: r.handle.sent,
        accountKey: r.accountKey,
        nonce: r.nonce,
        salt: r.salt,
        kdf: r.kdf,
        loginKeyHash: loginKeyHash(r.loginKey),
        sealedSecret: r.sealedSecret,
      });
      if (!(await ed25519Verify(subtle, r.accountKey, bytes, r.sig)))
        throw new RegistrationBadSignatureError();
      const now = this.o.now();
      this.store.insert(
        {
          handleKey: r.handle.key,
          handle: r.handle.display,
          accountKey: r.accountKey,
          salt: r.salt,
          kdf: r.kdf,
          sealedSecret: r.sealedSecret,
          verifier: makeVerifier(r.loginKey),
          createdAt: now,
          updatedAt: now,
        },
        { ...live, now },
      );
      this.metrics.registrations++;
      return { handle: r.handle.display, createdAt: now };
    } finally {
      zero(r.loginKey);
    }
  }

  /** Salt and scrypt parameters for a handle; made-up but stable ones for unknown handles. */
  params(handleKey: string): { salt: Uint8Array; kdf: KdfParams } {
    const fake = createHmac('sha256', this.store.secret('fake-salt'))
      .update('wos-fake-salt-v1\0')
      .update(handleKey)
      .digest()
      .subarray(0, this.o.fakeSaltBytes);
    const a = this.store.get(handleKey);
    return a ? { salt: a.salt, kdf: a.kdf } : { salt: fake, kdf: { ...this.o.defaultKdf } };
  }

  /** `ip`: the caller's address, for the per-network failure limit. */
  login(r: LoginRequest, ip: string): AccountRecord {
    return this.authenticate(r, ip);
  }

  async update(r: UpdateRequest, ip: string): Promise<{ updatedAt: number }> {
    try {
      const live = this.liveChallenge(r.nonce);
      const key = await this.checkSigned('update', r, (accountKey) =>
        updateBytes({
          handle: r.handle.sent,
          accountKey,
          nonce: r.nonce,
          loginKeyHash: loginKeyHash(r.loginKey),
          newSalt: r.next.salt,
          newKdf: r.next.kdf,
          newLoginKeyHash: loginKeyHash(r.next.loginKey),
          newSealedSecret: r.next.sealedSecret,
        }),
      );
      const a = this.authenticate(r, ip, key);
      const now = this.o.now();
      const { salt, kdf, sealedSecret } = r.next;
      const changed = this.store.replaceCredentials(
        a.handleKey,
        { salt, kdf, sealedSecret, verifier: makeVerifier(r.next.loginKey) },
        now,
        { ...live, now },
      );
      if (!changed) throw new LoginFailedError(); // deleted meanwhile
      this.metrics.updates++;
      return { updatedAt: now };
    } finally {
      zero(r.loginKey, r.next.loginKey);
    }
  }

  async delete(r: DeleteRequest, ip: string): Promise<void> {
    try {
      const live = this.liveChallenge(r.nonce);
      const key = await this.checkSigned('delete', r, (accountKey) =>
        deleteBytes({
          handle: r.handle.sent,
          accountKey,
          nonce: r.nonce,
          loginKeyHash: loginKeyHash(r.loginKey),
        }),
      );
      const a = this.authenticate(r, ip, key);
      if (!this.store.delete(a.handleKey, { ...live, now: this.o.now() }))
        throw new LoginFailedError();
      this.metrics.deletes++;
    } finally {
      zero(r.loginKey);
    }
  }

  /**
   * The request's challenge, if this server issued it, it is fresh and unused (a replay fails
   * here, before any other check; the store marks it used atomically with the change).
   */
  private liveChallenge(nonce: Buffer): LiveChallenge {
    const live = this.challenges.check(nonce);
    if (this.store.challengeUsed(live.id)) throw new ChallengeError('CHALLENGE_USED');
    return live;
  }

  /**
   * Checks `r.sig` over `bytes(account key)` against the handle's stored account key (a decoy
   * key for unknown handles, so both fail alike) and returns that key. Runs before the login
   * key is looked at: without the account secret, update and delete cannot be used to guess
   * passphrases, and do not count as failed logins.
   */
  private async checkSigned(
    op: string,
    r: { handle: Handle; sig: Uint8Array },
    bytes: (accountKey: Uint8Array) => Uint8Array,
  ): Promise<Uint8Array> {
    const accountKey = this.store.get(r.handle.key)?.accountKey ?? this.decoyKey;
    if (!(await ed25519Verify(subtle, accountKey, bytes(accountKey), r.sig)))
      throw new RequestBadSignatureError(op);
    return accountKey;
  }

  /**
   * Checks the login key (and zeroes it). Throws LOGIN_RATE_LIMITED while the caller's network
   * is over its failure limit for this handle (the key is not checked then), LOGIN_FAILED for
   * an unknown handle, a wrong key, or a record that no longer has `accountKey`.
   */
  private authenticate(r: LoginRequest, ip: string, accountKey?: Uint8Array): AccountRecord {
    const key = r.handle.key;
    try {
      const now = this.o.now();
      const source = this.throttle.source(ip);
      const wait = this.throttle.wait(key, source, now);
      if (wait > 0) {
        this.metrics.loginsLimited++;
        throw new LoginRateLimitedError(wait);
      }
      const a = this.store.get(key);
      const match = checkVerifier(r.loginKey, a?.verifier ?? this.decoy);
      if (!a || !match || (accountKey && !Buffer.from(accountKey).equals(a.accountKey))) {
        this.throttle.failed(key, source, now);
        this.metrics.loginsFailed++;
        throw new LoginFailedError();
      }
      this.throttle.succeeded(key, source);
      this.metrics.loginsOk++;
      return a;
    } finally {
      zero(r.loginKey);
    }
  }
}

/** The #tag of a handle under the client's rules (handle.ts of the core); INVALID_HANDLE else. */
function coreTag(h: Handle): string {
  try {
    // The handle key (NFKC, lower case): a tag typed in full-width or capital letters is the same tag.
    return parseCoreHandle(h.key).tag;
  } catch (e) {
    if (e instanceof WosError) throw new FieldError('INVALID_HANDLE', 'handle', e.message);
    throw e;
  }
}

/** SHA-256(label ‖ login key), as `loginKeyHash` in account-requests.ts, without a copy. */
function loginKeyHash(loginKey: Uint8Array): Buffer {
  return createHash('sha256').update(LOGIN_KEY_HASH_LABEL).update(loginKey).digest();
}
