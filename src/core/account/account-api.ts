import { WosError } from '../errors.ts';
import type { ScryptParams } from './passphrase.ts';

/**
 * The signaling server's passphrase sign-in endpoints (signaling-server/accounts/, all binary
 * fields base64url). The server keeps the sealed secret and a verifier of the login key; it never
 * receives the passphrase, the account secret or a storage key. The HTTP implementation is
 * platform/account/http-account-api.ts.
 *
 * Register, update and delete are request v2: signed by the account key over a fresh server
 * challenge (`nonce`), built by account-requests.ts.
 */
export interface RegisterRequest {
  readonly v: 2;
  readonly handle: string;
  readonly accountKey: string;
  readonly salt: string;
  readonly kdf: ScryptParams;
  readonly loginKey: string;
  readonly sealedSecret: string;
  readonly nonce: string;
  /** Ed25519 by the account key over `registerBytes` (account-requests.ts). */
  readonly sig: string;
}

export interface UpdateRequest {
  readonly v: 2;
  readonly handle: string;
  readonly loginKey: string;
  readonly newSalt: string;
  readonly newKdf: ScryptParams;
  readonly newLoginKey: string;
  readonly newSealedSecret: string;
  readonly nonce: string;
  readonly sig: string;
}

export interface DeleteRequest {
  readonly v: 2;
  readonly handle: string;
  readonly loginKey: string;
  readonly nonce: string;
  readonly sig: string;
}

export interface AccountApi {
  /** A fresh single-use challenge (base64url) to sign into the next register/update/delete. */
  challenge(): Promise<string>;
  register(r: RegisterRequest): Promise<{ handle: string; createdAt: number }>;
  /** Salt and scrypt parameters for a handle (made-up but stable ones for unknown handles). */
  params(handle: string): Promise<{ salt: string; kdf: ScryptParams }>;
  login(
    handle: string,
    loginKey: string,
  ): Promise<{
    handle: string;
    accountKey: string;
    sealedSecret: string;
  }>;
  update(r: UpdateRequest): Promise<{ updatedAt: number }>;
  delete(r: DeleteRequest): Promise<void>;
}

/**
 * What the server answered, as a named code:
 * - `LOGIN_FAILED`: unknown handle or wrong passphrase (the server cannot tell them apart);
 * - `LOGIN_RATE_LIMITED`: too many failed attempts for this handle from this network,
 *   `retryAfterSec` to wait (other networks are not affected);
 * - `RATE_LIMITED`: too many requests from this address;
 * - `HANDLE_TAKEN`, `ACCOUNT_KEY_TAKEN`: at registration;
 * - `ACCOUNT_SERVER_UNREACHABLE`: no answer (offline, server down);
 * - `ACCOUNT_SERVER_ERROR`: any other refusal (its code is in the message and `serverCode`).
 */
export type AccountApiErrorCode =
  | 'LOGIN_FAILED'
  | 'LOGIN_RATE_LIMITED'
  | 'RATE_LIMITED'
  | 'HANDLE_TAKEN'
  | 'ACCOUNT_KEY_TAKEN'
  | 'ACCOUNT_SERVER_UNREACHABLE'
  | 'ACCOUNT_SERVER_ERROR';

export class AccountApiError extends WosError {
  declare readonly code: AccountApiErrorCode;
  constructor(
    code: AccountApiErrorCode,
    message: string,
    readonly status = 0,
    readonly retryAfterSec?: number,
    readonly serverCode?: string,
  ) {
    super(code, message);
  }

  /** Maps a server error answer (`{ error: { code, message } }`) to a named error. */
  static fromServer(
    status: number,
    serverCode: string | undefined,
    serverMessage: string | undefined,
    retryAfterSec?: number,
  ): AccountApiError {
    const wait = retryAfterSec !== undefined ? ` Try again in ${retryAfterSec} s.` : '';
    switch (serverCode) {
      case 'LOGIN_FAILED':
        return new AccountApiError(
          'LOGIN_FAILED',
          'sign-in failed: the handle or the passphrase is wrong (check both, including the ' +
            '#tag of the handle)',
          status,
        );
      case 'LOGIN_RATE_LIMITED':
        return new AccountApiError(
          'LOGIN_RATE_LIMITED',
          'too many failed sign-ins for this handle from this network; wait, or sign in from ' +
            `another network or with the recovery code.${wait}`,
          status,
          retryAfterSec,
        );
      case 'RATE_LIMITED':
        return new AccountApiError(
          'RATE_LIMITED',
          `too many account requests from this address.${wait}`,
          status,
          retryAfterSec,
        );
      case 'HANDLE_TAKEN':
        return new AccountApiError(
          'HANDLE_TAKEN',
          'this handle is already registered on the server; if it is yours, sign in with its ' +
            'passphrase to change it',
          status,
        );
      case 'ACCOUNT_KEY_TAKEN':
        return new AccountApiError(
          'ACCOUNT_KEY_TAKEN',
          'this account already has a passphrase on the server; give the current passphrase ' +
            'to change it',
          status,
        );
      default:
        return new AccountApiError(
          'ACCOUNT_SERVER_ERROR',
          `the account server refused the request (${status} ${serverCode ?? 'no code'}` +
            `${serverMessage ? `: ${serverMessage}` : ''})`,
          status,
          retryAfterSec,
          serverCode,
        );
    }
  }
}
