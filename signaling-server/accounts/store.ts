import { randomBytes } from 'node:crypto';
import type { SqlValue } from 'sql.js';
import { type Row, SqliteFile } from './database.ts';
import type { LiveChallenge } from './challenge.ts';
import {
  AccountKeyTakenError,
  ChallengeError,
  DatabaseOpenError,
  HandleTakenError,
} from './errors.ts';
import type { KdfParams } from './options.ts';
import type { Verifier } from './verifier.ts';

/** 2: failures per (handle, network) instead of per handle; used challenges. */
export const SCHEMA_VERSION = 2;

/** Most login-failure windows kept (all handles and networks); the oldest go first. */
export const MAX_FAILURE_ROWS = 100_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
  handle_key TEXT PRIMARY KEY,          -- NFKC + lowercase handle
  handle TEXT NOT NULL,                 -- as registered
  account_key BLOB NOT NULL UNIQUE,     -- Ed25519 public key
  salt BLOB NOT NULL,                   -- the client's scrypt salt
  kdf TEXT NOT NULL,                    -- the client's scrypt parameters (JSON, verbatim)
  sealed_secret BLOB NOT NULL,          -- account secret sealed under the passphrase (opaque)
  verifier_salt BLOB NOT NULL,          -- per-record random HMAC key
  verifier BLOB NOT NULL,               -- HMAC-SHA-256(verifier_salt, login key)
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS login_failures (
  handle_key TEXT NOT NULL,             -- known or unknown handle, treated alike
  source BLOB NOT NULL,                 -- keyed hash of the network (IP or /64), not the IP
  window_start INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (handle_key, source)
);
CREATE TABLE IF NOT EXISTS used_challenges (
  id BLOB PRIMARY KEY,                  -- the random part of a challenge a signed change used
  expires_at INTEGER NOT NULL           -- after this the challenge is refused anyway
);
`;

export interface AccountRecord {
  handleKey: string;
  handle: string;
  accountKey: Uint8Array;
  salt: Uint8Array;
  kdf: KdfParams;
  sealedSecret: Uint8Array;
  verifier: Verifier;
  createdAt: number;
  updatedAt: number;
}

export interface NewCredentials {
  salt: Uint8Array;
  kdf: KdfParams;
  sealedSecret: Uint8Array;
  verifier: Verifier;
}

export interface FailureWindow {
  windowStart: number;
  count: number;
}

/** A challenge a signed change consumes, in the change's own transaction. */
export interface ChallengeUse extends LiveChallenge {
  now: number;
}

/**
 * The account tables of the server's database. Never holds a login key: only its verifier.
 * Every mutating method is one transaction followed by an atomic file write.
 */
export class AccountStore {
  private accountCount: number;

  private constructor(
    private readonly db: SqliteFile,
    private readonly maxFailureRows: number,
  ) {
    const version = Number(db.get('PRAGMA user_version')?.user_version ?? 0);
    if (version > SCHEMA_VERSION)
      throw new Error(`schema version ${version} is newer than this server (${SCHEMA_VERSION})`);
    // v1 counted failures per handle only; its windows are dropped (at most 15 min of counts).
    if (version === 1) db.exec('DROP TABLE IF EXISTS login_failures;');
    db.exec(`${SCHEMA} PRAGMA user_version = ${SCHEMA_VERSION};`);
    this.accountCount = Number(db.get('SELECT count(*) AS n FROM accounts')?.n ?? 0);
  }

  static async open(file: string, maxFailureRows = MAX_FAILURE_ROWS): Promise<AccountStore> {
    const db = await SqliteFile.open(file);
    try {
      return new AccountStore(db, maxFailureRows);
    } catch (err) {
      db.close();
      throw new DatabaseOpenError(file, err);
    }
  }

  get file(): string {
    return this.db.file;
  }

  /** Accounts stored (kept in memory; the `/metrics` gauge). */
  get count(): number {
    return this.accountCount;
  }

  get(handleKey: string): AccountRecord | undefined {
    const r = this.db.get('SELECT * FROM accounts WHERE handle_key = ?', [handleKey]);
    return r && toRecord(r);
  }

  insert(a: AccountRecord, challenge: ChallengeUse): void {
    this.db.change((run) => {
      useChallenge(this.db, run, challenge);
      if (this.db.get('SELECT 1 FROM accounts WHERE handle_key = ?', [a.handleKey]))
        throw new HandleTakenError();
      if (this.db.get('SELECT 1 FROM accounts WHERE account_key = ?', [a.accountKey]))
        throw new AccountKeyTakenError();
      run(
        `INSERT INTO accounts (handle_key, handle, account_key, salt, kdf, sealed_secret,
           verifier_salt, verifier, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
        [
          a.handleKey,
          a.handle,
          a.accountKey,
          a.salt,
          JSON.stringify(a.kdf),
          a.sealedSecret,
          a.verifier.salt,
          a.verifier.hash,
          a.createdAt,
          a.updatedAt,
        ],
      );
      run('DELETE FROM login_failures WHERE handle_key = ?', [a.handleKey]);
    });
    this.accountCount++;
  }

  /**
   * Replaces the credentials (passphrase change). Failure counts stay: they belong to the
   * networks that failed, and the caller's own were cleared by its successful check.
   */
  replaceCredentials(
    handleKey: string,
    c: NewCredentials,
    now: number,
    challenge: ChallengeUse,
  ): boolean {
    return this.db.change((run) => {
      useChallenge(this.db, run, challenge);
      const n = run(
        `UPDATE accounts SET salt = ?, kdf = ?, sealed_secret = ?, verifier_salt = ?,
           verifier = ?, updated_at = ? WHERE handle_key = ?`,
        [
          c.salt,
          JSON.stringify(c.kdf),
          c.sealedSecret,
          c.verifier.salt,
          c.verifier.hash,
          now,
          handleKey,
        ],
      );
      return n > 0;
    });
  }

  delete(handleKey: string, challenge: ChallengeUse): boolean {
    const deleted = this.db.change((run) => {
      useChallenge(this.db, run, challenge);
      run('DELETE FROM login_failures WHERE handle_key = ?', [handleKey]);
      return run('DELETE FROM accounts WHERE handle_key = ?', [handleKey]) > 0;
    });
    if (deleted) this.accountCount--;
    return deleted;
  }

  /** The failure window of a handle (known or not) for one network, if any. */
  failures(handleKey: string, source: Uint8Array): FailureWindow | undefined {
    const r = this.db.get(
      'SELECT window_start, count FROM login_failures WHERE handle_key = ? AND source = ?',
      [handleKey, source],
    );
    return r && { windowStart: Number(r.window_start), count: Number(r.count) };
  }

  /** Failures of a handle from every network in windows that began after `since`. */
  handleFailures(handleKey: string, since: number): number {
    const r = this.db.get(
      'SELECT sum(count) AS n FROM login_failures WHERE handle_key = ? AND window_start > ?',
      [handleKey, since],
    );
    return Number(r?.n ?? 0);
  }

  /**
   * Counts one failed login of a handle from a network: starts a new window at `now` if the
   * last one began `windowMs` or more ago. Expired windows are dropped on the way.
   */
  recordFailure(
    handleKey: string,
    source: Uint8Array,
    now: number,
    windowMs: number,
  ): FailureWindow {
    // Not durable: a flood of wrong passwords must not cost a whole-file write each.
    return this.db.change(
      (run) => {
        run('DELETE FROM login_failures WHERE window_start <= ?', [now - windowMs]);
        run(
          `INSERT INTO login_failures (handle_key, source, window_start, count) VALUES (?, ?, ?, 1)
           ON CONFLICT(handle_key, source) DO UPDATE SET count = count + 1`,
          [handleKey, source, now],
        );
        // A global cap, oldest windows first: memory stays bounded whatever the spread of
        // handles and networks an attack uses.
        run(
          `DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures
           ORDER BY window_start LIMIT max(0, (SELECT count(*) FROM login_failures) - ?))`,
          [this.maxFailureRows],
        );
        return this.failures(handleKey, source)!;
      },
      { durable: false },
    );
  }

  clearFailures(handleKey: string, source: Uint8Array): void {
    if (!this.failures(handleKey, source)) return;
    this.db.change(
      (run) =>
        run('DELETE FROM login_failures WHERE handle_key = ? AND source = ?', [handleKey, source]),
      { durable: false },
    );
  }

  /** Whether a signed change already used this challenge (checked again when it commits). */
  challengeUsed(id: Uint8Array): boolean {
    return this.db.get('SELECT 1 FROM used_challenges WHERE id = ?', [id]) !== undefined;
  }

  /** A random 32-byte server secret kept in the database (created on first use). */
  secret(name: string): Buffer {
    const key = `secret:${name}`;
    const r = this.db.get('SELECT value FROM meta WHERE key = ?', [key]);
    if (r?.value instanceof Uint8Array) return Buffer.from(r.value);
    const value = randomBytes(32);
    this.db.change((run) => run('INSERT INTO meta (key, value) VALUES (?, ?)', [key, value]));
    return value;
  }

  close(): void {
    this.db.close();
  }
}

/** Marks a challenge used (CHALLENGE_USED if it was); drops expired ones on the way. */
function useChallenge(
  db: SqliteFile,
  run: (sql: string, params?: SqlValue[]) => number,
  c: ChallengeUse,
): void {
  run('DELETE FROM used_challenges WHERE expires_at <= ?', [c.now]);
  if (db.get('SELECT 1 FROM used_challenges WHERE id = ?', [c.id]))
    throw new ChallengeError('CHALLENGE_USED');
  run('INSERT INTO used_challenges (id, expires_at) VALUES (?, ?)', [c.id, c.expiresAt]);
}

function blob(v: SqlValue | undefined): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Error('account database: expected a BLOB column');
  return v;
}

function toRecord(r: Row): AccountRecord {
  return {
    handleKey: String(r.handle_key),
    handle: String(r.handle),
    accountKey: blob(r.account_key),
    salt: blob(r.salt),
    kdf: JSON.parse(String(r.kdf)) as KdfParams,
    sealedSecret: blob(r.sealed_secret),
    verifier: { salt: Buffer.from(blob(r.verifier_salt)), hash: Buffer.from(blob(r.verifier)) },
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}
