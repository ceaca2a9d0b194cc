import { FieldError } from './errors.ts';
import type { KdfParams } from './options.ts';

/** Bounds the server accepts for the client's scrypt parameters. */
export const KDF_BOUNDS = {
  minLogN: 10,
  maxLogN: 20,
  maxR: 32,
  maxP: 16,
  /** scrypt needs 128·N·r bytes of memory. */
  maxMemoryBytes: 1024 * 1024 * 1024,
  maxKeys: 8,
  maxJsonBytes: 256,
} as const;

/**
 * Validates the client's key-derivation parameters: `{ N, r, p }` (optionally `alg: 'scrypt'`,
 * which is the only algorithm) with N a power
 * of two in 2^10–2^20, r 1–32, p 1–16, 128·N·r ≤ 1 GiB, plus up to four further flat fields
 * (string ≤ 64 chars, finite number, boolean), ≤ 256 bytes as JSON. Returns it unchanged.
 */
export function parseKdf(value: unknown, field = 'kdf'): KdfParams {
  const fail = (msg: string): never => {
    throw new FieldError('INVALID_KDF', field, msg);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FieldError('INVALID_TYPE', field, 'must be an object { N, r, p }');
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > KDF_BOUNDS.maxKeys) fail(`at most ${KDF_BOUNDS.maxKeys} fields`);
  for (const k of keys) {
    const x = o[k];
    const ok =
      (typeof x === 'string' && x.length <= 64) ||
      (typeof x === 'number' && Number.isFinite(x)) ||
      typeof x === 'boolean';
    if (!ok) fail(`${k} must be a short string, a finite number or a boolean`);
  }
  if (o.alg !== undefined && o.alg !== 'scrypt') fail('alg must be "scrypt" when given');
  const int = (k: string, lo: number, hi: number): number => {
    const x = o[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < lo || x > hi)
      fail(`${k} must be an integer ${lo}-${hi}`);
    return x as number;
  };
  const N = int('N', 2 ** KDF_BOUNDS.minLogN, 2 ** KDF_BOUNDS.maxLogN);
  if ((N & (N - 1)) !== 0) fail('N must be a power of two');
  const r = int('r', 1, KDF_BOUNDS.maxR);
  int('p', 1, KDF_BOUNDS.maxP);
  if (128 * N * r > KDF_BOUNDS.maxMemoryBytes) fail('128·N·r must be at most 1 GiB');
  if (Buffer.byteLength(JSON.stringify(o)) > KDF_BOUNDS.maxJsonBytes)
    fail(`must be at most ${KDF_BOUNDS.maxJsonBytes} bytes as JSON`);
  return { ...(o as KdfParams) };
}
