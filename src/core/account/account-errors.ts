import { WosError } from '../errors.ts';

/**
 * Errors of the account core. Each family is one class whose `code` is one of a fixed set, so a
 * UI branches on the code (e.g. highlights the recovery code field on RECOVERY_CODE_CHECKSUM);
 * messages say what was wrong and what to do.
 */

export type RecoveryCodeErrorCode =
  'RECOVERY_CODE_CHARS' | 'RECOVERY_CODE_LENGTH' | 'RECOVERY_CODE_CHECKSUM';

/** A typed or scanned recovery code is not a valid one. */
export class RecoveryCodeError extends WosError {
  declare readonly code: RecoveryCodeErrorCode;
  constructor(code: RecoveryCodeErrorCode, message: string) {
    super(code, message);
  }
}

export type HandleErrorCode =
  'HANDLE_MALFORMED' | 'HANDLE_NAME' | 'HANDLE_TAG' | 'HANDLE_TAG_MISMATCH';

/** A handle (`name#tag`) is malformed, or its tag does not belong to the account key. */
export class HandleError extends WosError {
  declare readonly code: HandleErrorCode;
  constructor(code: HandleErrorCode, message: string) {
    super(code, message);
  }
}

export type PassphraseErrorCode =
  | 'PASSPHRASE_TOO_SHORT'
  | 'PASSPHRASE_WRONG'
  | 'PASSPHRASE_PARAMS'
  | 'SEALED_SECRET_MALFORMED'
  | 'SEALED_SECRET_VERSION';

/** Passphrase sign-in failed: wrong passphrase, unacceptable parameters or a damaged blob. */
export class PassphraseError extends WosError {
  declare readonly code: PassphraseErrorCode;
  constructor(code: PassphraseErrorCode, message: string) {
    super(code, message);
  }
}

export type CertificateErrorCode =
  | 'CERT_MALFORMED'
  | 'CERT_VERSION'
  | 'CERT_BAD_SIGNATURE'
  | 'CERT_WRONG_ACCOUNT'
  | 'CERT_REVOKED'
  /** A personal mesh refused a node that showed no certificate. */
  | 'CERT_MISSING'
  /** The certificate is valid but names another device key than the one the peer proved. */
  | 'CERT_WRONG_DEVICE';

/** A device certificate was refused. */
export class CertificateError extends WosError {
  declare readonly code: CertificateErrorCode;
  constructor(code: CertificateErrorCode, message: string) {
    super(code, message);
  }
}

export type RevocationErrorCode =
  | 'REVOCATION_MALFORMED'
  | 'REVOCATION_VERSION'
  | 'REVOCATION_BAD_SIGNATURE'
  | 'REVOCATION_WRONG_ACCOUNT'
  | 'REVOCATION_ROLLBACK';

/** A revocation list was refused. */
export class RevocationError extends WosError {
  declare readonly code: RevocationErrorCode;
  constructor(code: RevocationErrorCode, message: string) {
    super(code, message);
  }
}

export type EpochKeyErrorCode =
  | 'EPOCH_GRANT_MALFORMED'
  | 'EPOCH_GRANT_VERSION'
  | 'EPOCH_GRANT_BAD_SIGNATURE'
  | 'EPOCH_GRANT_WRONG_DEVICE'
  | 'EPOCH_GRANT_UNOPENABLE';

/** A storage epoch key grant was refused. */
export class EpochKeyError extends WosError {
  declare readonly code: EpochKeyErrorCode;
  constructor(code: EpochKeyErrorCode, message: string) {
    super(code, message);
  }
}

export type ShareLinkErrorCode =
  | 'SHARE_LINK_MALFORMED'
  | 'SHARE_LINK_VERSION'
  | 'SHARE_LINK_TRUNCATED'
  | 'SHARE_LINK_TAMPERED'
  | 'SHARE_LINK_EXPIRED';

/** A share link (`…/#/s/<code>`) cannot be used. */
export class ShareLinkError extends WosError {
  declare readonly code: ShareLinkErrorCode;
  constructor(code: ShareLinkErrorCode, message: string) {
    super(code, message);
  }
}

/** A secret wrapped at rest on this device does not open. */
export class DeviceWrapError extends WosError {
  declare readonly code: 'DEVICE_WRAP_UNOPENABLE';
  constructor(message: string) {
    super('DEVICE_WRAP_UNOPENABLE', message);
  }
}

export type MembersErrorCode =
  | 'MEMBERS_MALFORMED'
  | 'MEMBERS_VERSION'
  | 'MEMBERS_BAD_SIGNATURE'
  | 'MEMBERS_WRONG_OWNER'
  | 'MEMBERS_WRONG_MESH'
  | 'MEMBERS_ROLLBACK'
  /** Inviting and removing need a device of the owner's account. */
  | 'MEMBERS_OWNER_ONLY'
  /** Admission to a shared mesh: the account is not in the member list in force. */
  | 'NOT_A_MEMBER'
  | 'INVITE_MALFORMED'
  | 'INVITE_UNKNOWN'
  | 'INVITE_USED'
  | 'INVITE_BAD_SIGNATURE'
  | 'INVITE_WRONG_ACCOUNT';

/** A shared mesh's member list or an invite claim was refused (shared-mesh.ts). */
export class MembersError extends WosError {
  declare readonly code: MembersErrorCode;
  constructor(code: MembersErrorCode, message: string) {
    super(code, message);
  }
}
