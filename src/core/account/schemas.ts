import * as v from 'valibot';
import { describeIssues } from '../wire.ts';
import { fromBase64Url } from '../bytes.ts';

/** Valibot pieces shared by the signed account objects (all binary fields are base64url). */

/** base64url (no padding) of exactly `bytes` bytes. */
export function b64Bytes(bytes: number) {
  const chars = Math.ceil((bytes * 4) / 3);
  return v.pipe(v.string(), v.length(chars), v.regex(/^[A-Za-z0-9_-]*$/));
}

/** Raw uncompressed P-256 public key (65 bytes, 0x04 ‖ x ‖ y) in base64url. */
export const P256PublicSchema = v.pipe(
  b64Bytes(65),
  // The pipe runs on after a failed length check: a bad string must not throw here.
  v.check((s) => {
    try {
      return fromBase64Url(s)[0] === 4;
    } catch {
      return false;
    }
  }, 'not an uncompressed P-256 point'),
);

export const Ed25519PublicSchema = b64Bytes(32);
export const Ed25519SignatureSchema = b64Bytes(64);
export const DeviceIdSchema = v.pipe(v.string(), v.regex(/^[a-z2-7]{16}$/));
export const U32Schema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 32 - 1));
/** Milliseconds since 1970 (a safe integer). */
export const TimeSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 53 - 1));

/** The `v` field of an object, when it has one (to report a version before a schema error). */
export function versionOf(x: unknown): unknown {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
    ? (x as Record<string, unknown>).v
    : undefined;
}

/**
 * Parses a versioned record received from elsewhere: an unknown `v` is reported as such
 * (`fail('version', v)`) before any schema error (`fail('malformed', issues)`), so an older
 * build says "update" rather than "malformed". `fail` makes the caller's named error.
 */
export function parseVersioned<S extends v.GenericSchema>(
  x: unknown,
  schema: S,
  version: number,
  fail: (kind: 'version' | 'malformed', detail: string) => Error,
): v.InferOutput<S> {
  const ver = versionOf(x);
  if (ver !== undefined && ver !== version) throw fail('version', String(ver));
  const r = v.safeParse(schema, x);
  if (!r.success) throw fail('malformed', describeIssues(r.issues));
  return r.output;
}
