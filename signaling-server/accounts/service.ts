import { createHmac } from 'node:crypto';
import { LoginFailedError, LoginRateLimitedError } from './errors.ts';
import type { AccountMetrics } from './metrics.ts';
import type { KdfParams, ResolvedAccountOptions } from './options.ts';
import { zero, type LoginRequest, type RegisterRequest, type UpdateRequest } from './requests.ts';
import type { AccountRecord, AccountStore } from './store.ts';
import { checkVerifier, decoyVerifier, makeVerifier, type Verifier } from './verifier.ts';

/**
 * Passphrase sign-in, server side. The server stores what the client derived from the
 * passphrase (salt, scrypt parameters, the sealed account secret) and a verifier of the login
 * key; it never sees the passphrase, the account secret or the key that seals it.
 *
 * Unknown handles and wrong keys take the same path (a decoy verifier is checked, the failure
 * is counted against the handle) and give the same LOGIN_FAILED. `params` answers for unknown
 * handles too, with a salt derived from the handle under a server secret: stable, and not
 * telling whether the handle exists. Every method that receives a login key zeroes it.
 */
export class AccountService {
  private readonly decoy: Verifier = decoyVerifier();

  constructor(
    private readonly store: AccountStore,
    private readonly o: ResolvedAccountOptions,
    private readonly metrics: AccountMetrics,
  ) {}

  register(r: RegisterRequest): { handle: string; createdAt: number } {
    try {
      const now = this.o.now();
      this.store.insert({
        handleKey: r.handle.key,
        handle: r.handle.display,
        accountKey: r.accountKey,
        salt: r.salt,
        kdf: r.kdf,
        sealedSecret: r.sealedSecret,
        verifier: makeVerifier(r.loginKey),
        createdAt: now,
        updatedAt: now,
      });
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

  login(r: LoginRequest): AccountRecord {
    return this.authenticate(r);
  }

  update(r: UpdateRequest): { updatedAt: number } {
    try {
      const a = this.authenticate(r);
      const now = this.o.now();
      const { salt, kdf, sealedSecret } = r.next;
      const changed = this.store.replaceCredentials(
        a.handleKey,
        { salt, kdf, sealedSecret, verifier: makeVerifier(r.next.loginKey) },
        now,
      );
      if (!changed) throw new LoginFailedError(); // deleted meanwhile
      this.metrics.updates++;
      return { updatedAt: now };
    } finally {
      zero(r.next.loginKey);
    }
  }

  delete(r: LoginRequest): void {
    const a = this.authenticate(r);
    if (!this.store.delete(a.handleKey)) throw new LoginFailedError();
    this.metrics.deletes++;
  }

  /**
   * Checks the login key (and zeroes it). Throws LOGIN_RATE_LIMITED while the handle has
   * `maxLoginFailures` failures in its window, LOGIN_FAILED for an unknown handle or a wrong key.
   */
  private authenticate(r: LoginRequest): AccountRecord {
    const key = r.handle.key;
    try {
      const now = this.o.now();
      const w = this.store.failures(key);
      if (w && w.count >= this.o.maxLoginFailures && now - w.windowStart < this.o.loginWindowMs) {
        this.metrics.loginsLimited++;
        throw new LoginRateLimitedError(
          Math.max(1, Math.ceil((w.windowStart + this.o.loginWindowMs - now) / 1000)),
        );
      }
      const a = this.store.get(key);
      const match = checkVerifier(r.loginKey, a?.verifier ?? this.decoy);
      if (!a || !match) {
        this.store.recordFailure(key, now, this.o.loginWindowMs);
        this.metrics.loginsFailed++;
        throw new LoginFailedError();
      }
      if (w) this.store.clearFailures(key);
      this.metrics.loginsOk++;
      return a;
    } finally {
      zero(r.loginKey);
    }
  }
}
