import * as v from 'valibot';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import { deviceIdOf } from '../identity.ts';
import { CertificateError } from './account-errors.ts';
import { CanonicalWriter } from './canonical.ts';
import { ed25519Verify } from './ed25519.ts';
import { isRevoked, type RevocationList } from './revocation.ts';
import {
  DeviceIdSchema,
  Ed25519PublicSchema,
  Ed25519SignatureSchema,
  P256PublicSchema,
  TimeSchema,
  U32Schema,
  parseVersioned,
} from './schemas.ts';

/**
 * A device certificate: the account key vouches for one device's keys. A personal mesh admits a
 * device only with a valid certificate that is not revoked. JSON form (binary fields base64url):
 *
 *   { v: 1, account, device: { id, key, box }, name, kind, issued, serial, sig }
 *
 * `key` is the device's ECDSA P-256 identity key (identity.ts; `id` must be its device id),
 * `box` its ECDH P-256 key that storage epoch keys are sealed to (epoch-keys.ts). `sig` is the
 * account's Ed25519 signature over `certificateBytes` (docs/ACCOUNTS.md gives the layout).
 */
export const CERT_VERSION = 1;
export const CERT_LABEL = 'wos/v1/device-cert';
export const DEVICE_KINDS = ['tab', 'agent'] as const;
export type DeviceKind = (typeof DEVICE_KINDS)[number];

const CertBodySchema = v.strictObject({
  v: v.literal(CERT_VERSION),
  account: Ed25519PublicSchema,
  device: v.strictObject({ id: DeviceIdSchema, key: P256PublicSchema, box: P256PublicSchema }),
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  kind: v.picklist(DEVICE_KINDS),
  issued: TimeSchema,
  serial: U32Schema,
});

export const CertificateSchema = v.strictObject({
  ...CertBodySchema.entries,
  sig: Ed25519SignatureSchema,
});

export type CertificateBody = v.InferOutput<typeof CertBodySchema>;
export type Certificate = v.InferOutput<typeof CertificateSchema>;

/** The deterministic bytes the account signs. */
export function certificateBytes(c: CertificateBody): Uint8Array {
  return new CanonicalWriter(CERT_LABEL)
    .u8(c.v)
    .fixed(fromBase64Url(c.account), 32)
    .str(c.device.id)
    .fixed(fromBase64Url(c.device.key), 65)
    .fixed(fromBase64Url(c.device.box), 65)
    .str(c.name.normalize('NFC'))
    .str(c.kind)
    .u64(c.issued)
    .u32(c.serial)
    .done();
}

export interface CertificateRequest {
  /** ECDSA P-256 identity public key (65 bytes). */
  readonly deviceKey: Uint8Array;
  /** ECDH P-256 box public key (65 bytes). */
  readonly boxKey: Uint8Array;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly issued: number;
  readonly serial: number;
}

/** Issues a certificate for a device, signed by the account. */
export async function issueCertificate(
  subtle: SubtleCrypto,
  account: { readonly publicKey: Uint8Array; sign(data: Uint8Array): Promise<Uint8Array> },
  req: CertificateRequest,
): Promise<Certificate> {
  const body: CertificateBody = {
    v: CERT_VERSION,
    account: toBase64Url(account.publicKey),
    device: {
      id: await deviceIdOf(subtle, req.deviceKey),
      key: toBase64Url(req.deviceKey),
      box: toBase64Url(req.boxKey),
    },
    name: req.name.normalize('NFC'),
    kind: req.kind,
    issued: req.issued,
    serial: req.serial,
  };
  const checked = parseCertificate({ ...body, sig: toBase64Url(new Uint8Array(64)) });
  const sig = await account.sign(certificateBytes(checked));
  return { ...checked, sig: toBase64Url(sig) };
}

/** Checks the shape only (no signature): CERT_VERSION or CERT_MALFORMED. */
export function parseCertificate(x: unknown): Certificate {
  const cert = parseVersioned(x, CertificateSchema, CERT_VERSION, (kind, detail) =>
    kind === 'version'
      ? new CertificateError(
          'CERT_VERSION',
          `device certificate version ${detail} is not supported (expected ${CERT_VERSION}); ` +
            'update WOS on this device',
        )
      : new CertificateError(
          'CERT_MALFORMED',
          `device certificate is malformed (${detail}); enrol the device again`,
        ),
  );
  if (cert.name !== cert.name.normalize('NFC')) {
    throw new CertificateError('CERT_MALFORMED', 'device certificate name is not NFC-normalized');
  }
  return cert;
}

/**
 * Verifies a certificate for `accountPublicKey` (and against `revocations` when given) and
 * returns it; throws `CertificateError` saying why it is refused.
 */
export async function verifyCertificate(
  subtle: SubtleCrypto,
  cert: unknown,
  accountPublicKey: Uint8Array,
  revocations?: RevocationList,
): Promise<Certificate> {
  const c = parseCertificate(cert);
  if (c.account !== toBase64Url(accountPublicKey)) {
    throw new CertificateError(
      'CERT_WRONG_ACCOUNT',
      `device ${c.device.id} holds a certificate of another account; it must sign in to this one`,
    );
  }
  if (c.device.id !== (await deviceIdOf(subtle, fromBase64Url(c.device.key)))) {
    throw new CertificateError(
      'CERT_MALFORMED',
      `certificate device id ${c.device.id} is not the id of its device key; enrol the device again`,
    );
  }
  const ok = await ed25519Verify(
    subtle,
    accountPublicKey,
    certificateBytes(c),
    fromBase64Url(c.sig),
  );
  if (!ok) {
    throw new CertificateError(
      'CERT_BAD_SIGNATURE',
      `the certificate of device ${c.device.id} is not signed by the account key (altered or forged)`,
    );
  }
  if (revocations && isRevoked(revocations, c.device.id)) {
    throw new CertificateError(
      'CERT_REVOKED',
      `device ${c.device.id} (${c.name}) was revoked; it can only come back as a new device ` +
        '(new device key) approved on an enrolled device',
    );
  }
  return c;
}
