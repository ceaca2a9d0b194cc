import type { Certificate } from './certificate.ts';
import type { CertificateAdmission } from './certificate-admission.ts';
import type { GrantStore } from './grant-relay.ts';
import type { RevocationList } from './revocation.ts';

/** The types of the revocation service (revocation-service.ts): its options and results. */
export interface AccountSigner {
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

export interface EpochKey {
  readonly epoch: number;
  /** Raw 32-byte epoch storage root (keep it wrapped at rest; import with importStorageRootKey). */
  readonly key: Uint8Array;
}

export interface RevocationServiceOptions {
  readonly admission: CertificateAdmission;
  readonly subtle: SubtleCrypto;
  readonly random: (n: number) => Uint8Array;
  /** Wall-clock time, ms (revocation times, last seen). */
  readonly now: () => number;
  /**
   * This device: its id, its own certificate, and its box key pair that grants are sealed to
   * (or `openGrant`, when something else holds the box key, e.g. the account session).
   */
  readonly self: {
    readonly deviceId: string;
    readonly certificate: Certificate;
    readonly boxPrivateKey?: CryptoKey;
    readonly boxPublicKey?: Uint8Array;
  };
  /** Opens (and keeps) a grant addressed to this device; throws `EpochKeyError`. */
  readonly openGrant?: (grant: unknown) => Promise<EpochKey>;
  /** The account signing key; without it this device can follow revocations but not make them. */
  readonly signer?: AccountSigner;
  /** The newest revocation list this device stored (verified again before use). */
  readonly list?: RevocationList;
  /** The newest epoch key this device holds. */
  readonly epochKey?: EpochKey;
  /** Every epoch ≥ 1 this device holds (default: that of `epochKey`). */
  readonly epochs?: readonly number[];
  /** The raw key of a held epoch, for `approve` (default: only keys learnt while attached). */
  readonly exportEpochKey?: (epoch: number) => Promise<Uint8Array>;
  /** Where grants relayed for other devices survive this tab (the account store). */
  readonly grantStore?: GrantStore;
}

export interface RevokeResult {
  readonly list: RevocationList;
  readonly epoch: number;
  /** Devices that were sent a grant of the new epoch. */
  readonly granted: readonly string[];
}
