import { toBase64Url } from '../bytes.ts';
import type { Admission, AdmissionVerdict, ProvenPeer } from '../admission.ts';
import { WosError } from '../errors.ts';
import { CertificateError } from './account-errors.ts';
import { verifyCertificate, type Certificate } from './certificate.ts';
import type { RevocationList } from './revocation.ts';

/**
 * Admission to a personal mesh: a peer is admitted only with a certificate signed by the
 * account key, not revoked by the newest revocation list this node holds, and issued for the
 * very device key the peer proved in the handshake (so a certificate copied from another device
 * is worthless). Refusals carry the certificate error's code (CERT_MISSING, CERT_MALFORMED,
 * CERT_VERSION, CERT_WRONG_ACCOUNT, CERT_BAD_SIGNATURE, CERT_REVOKED, CERT_WRONG_DEVICE).
 */
export interface CertificateAdmissionOptions {
  /** The account's Ed25519 public key (32 bytes). */
  readonly accountKey: Uint8Array;
  /** The newest revocation list this node holds (undefined: none yet, nothing revoked). */
  readonly revocations: () => RevocationList | undefined;
  readonly subtle: SubtleCrypto;
  /** Wall-clock time, ms (stamps when a device was admitted). */
  readonly now: () => number;
  /** This device's own certificate, shown in its `hello`. */
  readonly certificate?: Certificate | (() => Certificate | undefined);
}

export interface KnownDevice {
  readonly certificate: Certificate;
  /** When a node of this device was last admitted or its certificate last learned, ms. */
  readonly at: number;
}

export interface CertificateAdmission extends Admission {
  readonly accountKey: Uint8Array;
  /** Every device whose certificate this node has verified, by device id. */
  known(): ReadonlyMap<string, KnownDevice>;
  /**
   * Verifies a certificate learned other than in a handshake (e.g. from a relayed member) and
   * remembers it; throws `CertificateError` when it is refused.
   */
  learn(cert: unknown): Promise<Certificate>;
}

export function certificateAdmission(o: CertificateAdmissionOptions): CertificateAdmission {
  const known = new Map<string, KnownDevice>();
  const own = o.certificate;
  const remember = (c: Certificate): void => {
    known.set(c.device.id, { certificate: c, at: o.now() });
  };
  const check = (cert: unknown): Promise<Certificate> =>
    verifyCertificate(o.subtle, cert, o.accountKey, o.revocations());
  return {
    accountKey: o.accountKey,
    certificate: () => (typeof own === 'function' ? own() : own),
    known: () => known,
    async learn(cert) {
      const c = await check(cert);
      remember(c);
      return c;
    },
    async decide(peer: ProvenPeer): Promise<AdmissionVerdict> {
      if (!peer.certificate) {
        return refuse(
          'CERT_MISSING',
          `device ${peer.deviceId} showed no device certificate; this is a personal mesh: ` +
            'sign in to the account on that device (pairing, recovery code or passphrase)',
        );
      }
      let c: Certificate;
      try {
        c = await check(peer.certificate);
      } catch (e) {
        if (e instanceof CertificateError) return refuse(e.code, e.message);
        if (e instanceof WosError) return refuse('CERT_MALFORMED', e.message);
        throw e;
      }
      if (c.device.key !== toBase64Url(peer.deviceKey)) {
        return refuse(
          'CERT_WRONG_DEVICE',
          `node ${peer.nodeId} showed the certificate of device ${c.device.id} (${c.name}) but ` +
            `proved device key ${peer.deviceId}; a certificate only admits the device it names`,
        );
      }
      remember(c);
      return { admit: true };
    },
  };
}

function refuse(code: string, message: string): AdmissionVerdict {
  return { admit: false, code, message };
}
