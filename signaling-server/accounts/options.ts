import path from 'node:path';
import { ConfigError } from '../errors.ts';
import type { RateSpec } from '../rate-limit.ts';

/** Scrypt parameters as the client sends them (validated by `kdf.ts`, stored verbatim). */
export type KdfParams = Record<string, string | number | boolean>;

export interface AccountOptions {
  /**
   * The account database: a SQLite file, or `:memory:` (nothing persisted). Default
   * `data/wos.sqlite` under the working directory. The file is only created by the first change.
   */
  db?: string;
  /**
   * Failed logins for one handle from one network (IP; /64 for IPv6) within `loginWindowMs`
   * before that network gets 429 LOGIN_RATE_LIMITED for that handle. Default 5.
   */
  maxLoginFailures?: number;
  /** The failure window (from a network's first failure). Default 15 min. */
  loginWindowMs?: number;
  /**
   * Failures for one handle from all networks within `loginWindowMs` from which the handle
   * counts as under attack: then each network gets only `attackMaxFailures`. Default 50.
   */
  attackThreshold?: number;
  /** Failures per network and handle while the handle is under attack. Default 1. */
  attackMaxFailures?: number;
  /** How long a challenge for a signed request stays usable. Default 5 min. */
  challengeTtlMs?: number;
  /** Per-IP bucket for every `/api/account/*` request. Default 1/s, burst 20. */
  rate?: RateSpec;
  /**
   * Parameters `params` returns for unknown handles. They must look exactly like what clients
   * register (same fields, same values), or they tell unknown handles apart. Default
   * `{ N: 65536, r: 8, p: 1 }`, the client's `DEFAULT_SCRYPT` (src/core/account/passphrase.ts).
   */
  defaultKdf?: KdfParams;
  /** Length of the fake salt `params` returns for unknown handles. Default 16 bytes. */
  fakeSaltBytes?: number;
  /** Clock (ms since the epoch); tests inject one. */
  now?: () => number;
}

export interface ResolvedAccountOptions {
  db: string;
  maxLoginFailures: number;
  loginWindowMs: number;
  attackThreshold: number;
  attackMaxFailures: number;
  challengeTtlMs: number;
  rate: RateSpec;
  defaultKdf: KdfParams;
  fakeSaltBytes: number;
  now: () => number;
}

export const MEMORY_DB = ':memory:';

export const ACCOUNT_DEFAULTS = {
  db: path.join('data', 'wos.sqlite'),
  maxLoginFailures: 5,
  loginWindowMs: 15 * 60_000,
  attackThreshold: 50,
  attackMaxFailures: 1,
  challengeTtlMs: 5 * 60_000,
  rate: { ratePerSec: 1, burst: 20 },
  defaultKdf: { N: 65536, r: 8, p: 1 },
  fakeSaltBytes: 16,
} as const;

function atLeast(name: string, value: number, min: number): number {
  if (!Number.isFinite(value) || value < min)
    throw new ConfigError(`accounts.${name} must be a number >= ${min}, got ${value}`);
  return value;
}

export function resolveAccountOptions(o: AccountOptions = {}): ResolvedAccountOptions {
  const rate = o.rate ?? ACCOUNT_DEFAULTS.rate;
  const fakeSaltBytes = o.fakeSaltBytes ?? ACCOUNT_DEFAULTS.fakeSaltBytes;
  if (!Number.isInteger(fakeSaltBytes) || fakeSaltBytes < 16 || fakeSaltBytes > 32)
    throw new ConfigError(`accounts.fakeSaltBytes must be an integer 16-32, got ${fakeSaltBytes}`);
  const db = o.db ?? ACCOUNT_DEFAULTS.db;
  if (db === '') throw new ConfigError('accounts.db must be a file path or ":memory:"');
  return {
    db: db === MEMORY_DB ? db : path.resolve(db),
    maxLoginFailures: Math.floor(
      atLeast('maxLoginFailures', o.maxLoginFailures ?? ACCOUNT_DEFAULTS.maxLoginFailures, 1),
    ),
    loginWindowMs: atLeast('loginWindowMs', o.loginWindowMs ?? ACCOUNT_DEFAULTS.loginWindowMs, 1),
    attackThreshold: Math.floor(
      atLeast('attackThreshold', o.attackThreshold ?? ACCOUNT_DEFAULTS.attackThreshold, 1),
    ),
    attackMaxFailures: Math.floor(
      atLeast('attackMaxFailures', o.attackMaxFailures ?? ACCOUNT_DEFAULTS.attackMaxFailures, 1),
    ),
    challengeTtlMs: atLeast(
      'challengeTtlMs',
      o.challengeTtlMs ?? ACCOUNT_DEFAULTS.challengeTtlMs,
      1000,
    ),
    rate: {
      ratePerSec: atLeast('rate.ratePerSec', rate.ratePerSec, Number.MIN_VALUE),
      burst: atLeast('rate.burst', rate.burst, 1),
    },
    defaultKdf: { ...(o.defaultKdf ?? ACCOUNT_DEFAULTS.defaultKdf) },
    fakeSaltBytes,
    now: o.now ?? Date.now,
  };
}

/**
 * Account options from the environment (the CLI; `--db` overrides `WOS_DB`): `WOS_DB`,
 * `WOS_LOGIN_MAX_FAILURES`, `WOS_LOGIN_WINDOW_MS`, `WOS_LOGIN_ATTACK_THRESHOLD`,
 * `WOS_ACCOUNT_RATE` / `WOS_ACCOUNT_BURST`.
 */
export function accountOptionsFromEnv(env: NodeJS.ProcessEnv): AccountOptions {
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n))
      throw new ConfigError(`${name} must be a number, got ${JSON.stringify(raw)}`);
    return n;
  };
  const o: AccountOptions = {};
  if (env.WOS_DB) o.db = env.WOS_DB;
  const max = num('WOS_LOGIN_MAX_FAILURES');
  if (max !== undefined) o.maxLoginFailures = max;
  const windowMs = num('WOS_LOGIN_WINDOW_MS');
  if (windowMs !== undefined) o.loginWindowMs = windowMs;
  const attack = num('WOS_LOGIN_ATTACK_THRESHOLD');
  if (attack !== undefined) o.attackThreshold = attack;
  const r = num('WOS_ACCOUNT_RATE');
  const b = num('WOS_ACCOUNT_BURST');
  if (r !== undefined || b !== undefined)
    o.rate = {
      ratePerSec: r ?? ACCOUNT_DEFAULTS.rate.ratePerSec,
      burst: b ?? ACCOUNT_DEFAULTS.rate.burst,
    };
  return o;
}
