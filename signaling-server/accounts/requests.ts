import { BadRequestError } from '../errors.ts';
import { decodeBase64url } from './base64url.ts';
import { CHALLENGE_BYTES } from './challenge.ts';
import { FieldError, UnsignedRequestError } from './errors.ts';
import { parseHandle, type Handle } from './handle.ts';
import { parseKdf } from './kdf.ts';
import type { KdfParams } from './options.ts';

/** Byte lengths of the binary fields (all sent as unpadded base64url). */
export const SIZES = {
  accountKey: [32, 32],
  salt: [16, 32],
  loginKey: [32, 32],
  sealedSecret: [16, 1024],
  nonce: [CHALLENGE_BYTES, CHALLENGE_BYTES],
  sig: [64, 64],
} as const;

/** The version of register, update and delete requests: signed by the account key. */
export const SIGNED_REQUEST_VERSION = 2;

/** What a client stores: everything it needs to recover the secret from the passphrase. */
export interface Credentials {
  salt: Buffer;
  kdf: KdfParams;
  /** Zero it after use (`zero()`). */
  loginKey: Buffer;
  sealedSecret: Buffer;
}

/** The account key's signature over the request and a server challenge. */
export interface Signed {
  nonce: Buffer;
  sig: Buffer;
}

export interface RegisterRequest extends Credentials, Signed {
  handle: Handle;
  accountKey: Buffer;
}

export interface LoginRequest {
  handle: Handle;
  /** Zero it after use. */
  loginKey: Buffer;
}

export type DeleteRequest = LoginRequest & Signed;

export interface UpdateRequest extends LoginRequest, Signed {
  next: Credentials;
}

type Body = Record<string, unknown>;

/**
 * The body must be a JSON object with exactly these fields. Unsigned requests (`params`,
 * `login`) may carry `v: 1` or `v: 2`; signed ones (`op` given) must carry `v: 2`, and an
 * older one is refused as a whole (UNSIGNED_REQUEST) before its fields are looked at.
 */
function fields(body: unknown, names: readonly string[], op?: string): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new BadRequestError(`body must be a JSON object { ${names.join(', ')} }`);
  const b = body as Body;
  if (op !== undefined && b.v !== SIGNED_REQUEST_VERSION) {
    if (b.v === undefined || b.v === 1) throw new UnsignedRequestError(op);
    throw new FieldError('INVALID_TYPE', 'v', `must be ${SIGNED_REQUEST_VERSION}`);
  }
  for (const k of Object.keys(b)) {
    if (k === 'v') {
      if (b.v !== 1 && b.v !== SIGNED_REQUEST_VERSION)
        throw new FieldError('INVALID_TYPE', 'v', 'must be 1 or 2 when given');
    } else if (!names.includes(k)) {
      throw new FieldError('UNKNOWN_FIELD', k, `unexpected field; expected ${names.join(', ')}`);
    }
  }
  for (const k of names)
    if (b[k] === undefined) throw new FieldError('MISSING_FIELD', k, 'is required');
  return b;
}

function bytes(b: Body, field: keyof typeof SIZES, name: string = field): Buffer {
  const [min, max] = SIZES[field];
  return decodeBase64url(name, b[name], min, max);
}

/** Runs `parse` and zeroes the buffers `made` collected if it throws. */
function parsing<T>(parse: (made: Buffer[]) => T): T {
  const made: Buffer[] = [];
  try {
    return parse(made);
  } catch (err) {
    zero(...made);
    throw err;
  }
}

export function zero(...buffers: (Buffer | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

function signed(b: Body): Signed {
  return { nonce: bytes(b, 'nonce'), sig: bytes(b, 'sig') };
}

export function parseRegister(body: unknown): RegisterRequest {
  const b = fields(
    body,
    ['handle', 'accountKey', 'salt', 'kdf', 'loginKey', 'sealedSecret', 'nonce', 'sig'],
    'register',
  );
  return parsing((made) => {
    const handle = parseHandle(b.handle);
    const accountKey = bytes(b, 'accountKey');
    const salt = bytes(b, 'salt');
    const kdf = parseKdf(b.kdf);
    const loginKey = bytes(b, 'loginKey');
    made.push(loginKey);
    const sealedSecret = bytes(b, 'sealedSecret');
    return { handle, accountKey, salt, kdf, loginKey, sealedSecret, ...signed(b) };
  });
}

/** `{}` (or `{ v }`): a challenge request carries nothing. */
export function parseChallenge(body: unknown): void {
  fields(body, []);
}

export function parseParams(body: unknown): { handle: Handle } {
  const b = fields(body, ['handle']);
  return { handle: parseHandle(b.handle) };
}

export function parseLogin(body: unknown): LoginRequest {
  const b = fields(body, ['handle', 'loginKey']);
  return parsing(() => ({ handle: parseHandle(b.handle), loginKey: bytes(b, 'loginKey') }));
}

export function parseDelete(body: unknown): DeleteRequest {
  const b = fields(body, ['handle', 'loginKey', 'nonce', 'sig'], 'delete');
  return parsing((made) => {
    const handle = parseHandle(b.handle);
    const loginKey = bytes(b, 'loginKey');
    made.push(loginKey);
    return { handle, loginKey, ...signed(b) };
  });
}

export function parseUpdate(body: unknown): UpdateRequest {
  const b = fields(
    body,
    ['handle', 'loginKey', 'newSalt', 'newKdf', 'newLoginKey', 'newSealedSecret', 'nonce', 'sig'],
    'update',
  );
  return parsing((made) => {
    const handle = parseHandle(b.handle);
    const loginKey = bytes(b, 'loginKey');
    made.push(loginKey);
    const salt = bytes(b, 'salt', 'newSalt');
    const kdf = parseKdf(b.newKdf, 'newKdf');
    const newLoginKey = bytes(b, 'loginKey', 'newLoginKey');
    made.push(newLoginKey);
    const sealedSecret = bytes(b, 'sealedSecret', 'newSealedSecret');
    return {
      handle,
      loginKey,
      next: { salt, kdf, loginKey: newLoginKey, sealedSecret },
      ...signed(b),
    };
  });
}
