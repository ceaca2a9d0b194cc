import { ServerError } from '../errors.ts';

/**
 * Errors of the account API. Field errors name the offending field in `error.field` as well as
 * in the message, so clients can point at it: `{ error: { code, message, field } }`.
 */
export type FieldErrorCode =
  | 'MISSING_FIELD'
  | 'UNKNOWN_FIELD'
  | 'INVALID_TYPE'
  | 'INVALID_BASE64URL'
  | 'INVALID_LENGTH'
  | 'INVALID_HANDLE'
  | 'INVALID_KDF';

export class FieldError extends ServerError {
  readonly field: string;
  constructor(code: FieldErrorCode, field: string, message: string) {
    super(code, 400, `${field}: ${message}`);
    this.field = field;
  }

  override toJSON(): { error: { code: string; message: string; field: string } } {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

/** The handle is registered already (handles are compared case- and width-insensitively). */
export class HandleTakenError extends ServerError {
  constructor() {
    super('HANDLE_TAKEN', 409, 'this handle is already registered');
  }
}

/** Another handle is registered for this account key. */
export class AccountKeyTakenError extends ServerError {
  constructor() {
    super('ACCOUNT_KEY_TAKEN', 409, 'this account key is already registered under a handle');
  }
}

/** Unknown handle or wrong login key: deliberately the same error for both. */
export class LoginFailedError extends ServerError {
  constructor() {
    super('LOGIN_FAILED', 401, 'unknown handle or wrong passphrase');
  }
}

/**
 * Too many failed logins for this handle from the caller's network (its IP, or /64 for IPv6);
 * retry after `retryAfterS` seconds. Other networks are not affected.
 */
export class LoginRateLimitedError extends ServerError {
  readonly retryAfterS: number;
  constructor(retryAfterS: number) {
    super(
      'LOGIN_RATE_LIMITED',
      429,
      `too many failed sign-ins for this handle from this network; retry after ${retryAfterS} s`,
    );
    this.retryAfterS = retryAfterS;
  }
}

/** The database file could not be written; the change was rolled back. */
export class StorageFailedError extends ServerError {
  constructor(cause: unknown) {
    super('STORAGE_FAILED', 500, 'the account database could not be written; nothing changed', {
      cause,
    });
  }
}

/** The database file exists but is not a WOS account database. */
export class DatabaseOpenError extends ServerError {
  constructor(file: string, cause: unknown) {
    super(
      'INVALID_CONFIG',
      500,
      `cannot open account database ${file}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** A register, update or delete without the account key's signature (request v1). */
export class UnsignedRequestError extends ServerError {
  constructor(op: string) {
    super(
      'UNSIGNED_REQUEST',
      400,
      `${op} must be request v2, signed by the account key over a challenge from ` +
        '/api/account/challenge; unsigned (v1) requests are no longer accepted: reload the app ' +
        'to get a client that signs',
    );
  }
}

/** The handle's #tag is not the tag of the account key being registered. */
export class HandleTagMismatchError extends ServerError {
  constructor(want: string) {
    super(
      'HANDLE_TAG_MISMATCH',
      400,
      `the handle's #tag must be derived from accountKey (its tag is #${want}); a handle can ` +
        'only be registered by the account it names',
    );
  }
}

/** The registration's signature does not verify under its `accountKey`. */
export class RegistrationBadSignatureError extends ServerError {
  constructor() {
    super(
      'REGISTRATION_BAD_SIGNATURE',
      400,
      'sig is not a valid signature by accountKey over this registration (handle, salt, kdf, ' +
        'login key, sealed secret and nonce); sign exactly the fields sent',
    );
  }
}

/**
 * An update or delete whose signature does not verify under the account key the server holds
 * for the handle. Unknown handles get it too (checked against a decoy key), so it tells
 * nothing about which handles exist.
 */
export class RequestBadSignatureError extends ServerError {
  constructor(op: string) {
    super(
      'REQUEST_BAD_SIGNATURE',
      403,
      `${op}: sig is not a valid signature by this handle's account key over the request and ` +
        'its nonce; only a device holding the account secret can change or delete the record',
    );
  }
}

export type ChallengeErrorCode = 'CHALLENGE_INVALID' | 'CHALLENGE_EXPIRED' | 'CHALLENGE_USED';

/** The signed request's nonce is not a live challenge of this server. */
export class ChallengeError extends ServerError {
  constructor(code: ChallengeErrorCode) {
    const why = {
      CHALLENGE_INVALID: 'nonce is not a challenge issued by this server',
      CHALLENGE_EXPIRED: 'nonce is an expired challenge',
      CHALLENGE_USED: 'nonce was already used by another request (a replay?)',
    }[code];
    super(
      code,
      code === 'CHALLENGE_USED' ? 409 : 400,
      `${why}; get a fresh one from /api/account/challenge and sign again`,
    );
  }
}
