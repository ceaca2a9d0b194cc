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

/** Too many failed logins for this handle; retry after `retryAfterS` seconds. */
export class LoginRateLimitedError extends ServerError {
  readonly retryAfterS: number;
  constructor(retryAfterS: number) {
    super(
      'LOGIN_RATE_LIMITED',
      429,
      `too many failed sign-ins for this handle; retry after ${retryAfterS} s`,
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
