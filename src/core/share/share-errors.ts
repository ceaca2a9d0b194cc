import { WosError } from '../errors.ts';

/**
 * Errors of serving and reading a shared file (a `…/#/s/<code>` link). The owner's share server
 * answers with these codes; the guest reader raises them as `ShareError` with the same code.
 * (A link that is damaged or expired by its own date fails before any network with
 * `ShareLinkError`, account/account-errors.ts.) SHARE_WRONG_OWNER is the guest's own finding
 * and never taken from a reply.
 */
export type ShareServerErrorCode =
  | 'SHARE_REVOKED'
  | 'SHARE_EXPIRED'
  | 'SHARE_LIMIT_REACHED'
  | 'SHARE_NOT_FOUND'
  | 'SHARE_NO_SESSION'
  | 'SHARE_UNAVAILABLE';
export type ShareErrorCode = ShareServerErrorCode | 'SHARE_WRONG_OWNER';

/** The codes a share server answers with (a reply's code is taken only from these). */
export const SHARE_ERROR_CODES: readonly ShareServerErrorCode[] = [
  'SHARE_REVOKED',
  'SHARE_EXPIRED',
  'SHARE_LIMIT_REACHED',
  'SHARE_NOT_FOUND',
  'SHARE_NO_SESSION',
  'SHARE_UNAVAILABLE',
];

const MESSAGES: Record<ShareErrorCode, string> = {
  SHARE_REVOKED: 'the owner revoked this share link; ask the owner for a new one',
  SHARE_EXPIRED: 'this share link has expired; ask the owner for a new one',
  SHARE_LIMIT_REACHED:
    'this share link has been used for as many downloads as the owner allowed; ask for a new one',
  SHARE_NOT_FOUND:
    "the owner's device does not know this share (revoked and forgotten, or never made there)",
  SHARE_NO_SESSION: 'shard asked for before the manifest; fetch the manifest first',
  SHARE_UNAVAILABLE:
    "none of the owner's devices serving this share is online; try again when one is",
  SHARE_WRONG_OWNER:
    'the file offered for this link is not signed by the owner the link names (someone else is serving it, or the link was edited); nothing was read; ask the owner for the link again',
};

/** A share could not be served or read. */
export class ShareError extends WosError {
  declare readonly code: ShareErrorCode;
  constructor(code: ShareErrorCode, detail?: string) {
    super(code, detail === undefined ? MESSAGES[code] : `${MESSAGES[code]} (${detail})`);
  }
}

export function isShareErrorCode(code: string): code is ShareServerErrorCode {
  return (SHARE_ERROR_CODES as readonly string[]).includes(code);
}
