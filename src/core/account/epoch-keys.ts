import * as v from 'valibot';
import { concatBytes, fromBase64Url, toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { EpochKeyError } from './account-errors.ts';
import { CanonicalWriter } from './canonical.ts';
import { ed25519Verify } from './ed25519.ts';
import { hkdfAesKey, importHkdfKey } from './kdf.ts';
import {
  b64Bytes,
  DeviceIdSchema,
  Ed25519PublicSchema,
  Ed25519SignatureSchema,
  P256PublicSchema,
  U32Schema,
  parseVersioned,
} from './schemas.ts';

/**
 * Storage key epochs. Epoch 0's storage root derives from the account secret (account-keys.ts).
 * Every revocation starts a new epoch whose root is 32 fresh random bytes, never derived from
 * the secret, and reaches each remaining device as a grant sealed to that device's ECDH P-256
 * box key (listed in its certificate) and signed by the account key:
 *
 *   Z     = ECDH(ephemeral private, device box public)                 (32 bytes)
 *   K     = HKDF-SHA-256(Z, salt = eph ‖ box, "wos/v1/epoch-grant")    → AES-256-GCM
 *   ct    = AES-GCM(K, nonce (12 random), epoch root (32), AAD = header bytes) (48)
 *   grant = { v: 1, account, epoch, device, eph, sealed: nonce ‖ ct, sig }
 *   sig   = Ed25519(account, header bytes ‖ u16 65 ‖ eph ‖ u16 60 ‖ sealed)
 *
 * A revoked device is never sent a grant, so it cannot read files written under the new epoch.
 */
export const GRANT_VERSION = 1;
export const GRANT_LABEL = 'wos/v1/epoch-grant';
export const EPOCH_KEY_BYTES = 32;
const NONCE_BYTES = 12;
const SEALED_BYTES = NONCE_BYTES + EPOCH_KEY_BYTES + 16;

const GrantSchema = v.strictObject({
  v: v.literal(GRANT_VERSION),
  account: Ed25519PublicSchema,
  epoch: v.pipe(U32Schema, v.minValue(1)),
  device: DeviceIdSchema,
  eph: P256PublicSchema,
  sealed: b64Bytes(SEALED_BYTES),
  sig: Ed25519SignatureSchema,
});
export type EpochGrant = v.InferOutput<typeof GrantSchema>;

/** A device's box key pair: ECDH P-256, private key non-extractable. */
export async function generateBoxKeyPair(
  subtle: SubtleCrypto,
): Promise<{ keyPair: CryptoKeyPair; publicKey: Uint8Array }> {
  const keyPair = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, [
    'deriveBits',
  ]);
  const publicKey = new Uint8Array(await subtle.exportKey('raw', keyPair.publicKey));
  return { keyPair, publicKey };
}

/** A fresh epoch root (raw, to be granted and then imported with importStorageRootKey). */
export function newEpochKey(random: (n: number) => Uint8Array): Uint8Array {
  const k = random(EPOCH_KEY_BYTES);
  if (k.length !== EPOCH_KEY_BYTES) throw new ArgumentError('random() returned the wrong length');
  return k;
}

function header(account: string, epoch: number, device: string): CanonicalWriter {
  return new CanonicalWriter(GRANT_LABEL)
    .u8(GRANT_VERSION)
    .fixed(fromBase64Url(account), 32)
    .u32(epoch)
    .str(device);
}

function headerBytes(account: string, epoch: number, device: string): Uint8Array {
  return header(account, epoch, device).done();
}

/** The bytes the account signs: header ‖ u16 65 ‖ eph ‖ u16 60 ‖ sealed. */
export function grantSignedBytes(g: Omit<EpochGrant, 'sig'>): Uint8Array {
  return header(g.account, g.epoch, g.device)
    .bytes(fromBase64Url(g.eph))
    .bytes(fromBase64Url(g.sealed))
    .done();
}

async function sealKey(
  subtle: SubtleCrypto,
  priv: CryptoKey,
  pub: Uint8Array,
  eph: Uint8Array,
  box: Uint8Array,
): Promise<CryptoKey> {
  const peer = await subtle.importKey(
    'raw',
    pub as BufferSource,
    { name: 'ECDH', namedCurve: 'P-256' },
    false,
    [],
  );
  const z = new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: peer }, priv, 256));
  const base = await importHkdfKey(subtle, z);
  z.fill(0);
  return hkdfAesKey(subtle, base, GRANT_LABEL, concatBytes(eph, box));
}

/** Seals epoch root `epochKey` to one device and signs the grant with the account key. */
export async function grantEpochKey(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
  account: { readonly publicKey: Uint8Array; sign(data: Uint8Array): Promise<Uint8Array> },
  epoch: number,
  epochKey: Uint8Array,
  device: { readonly id: string; readonly box: Uint8Array },
): Promise<EpochGrant> {
  if (epochKey.length !== EPOCH_KEY_BYTES) throw new ArgumentError('an epoch key is 32 bytes');
  if (!Number.isSafeInteger(epoch) || epoch < 1)
    throw new ArgumentError('epochs after 0 are granted; epoch 0 derives from the secret');
  const eph = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, [
    'deriveBits',
  ]);
  const ephPub = new Uint8Array(await subtle.exportKey('raw', eph.publicKey));
  const key = await sealKey(subtle, eph.privateKey, device.box, ephPub, device.box);
  const acct = toBase64Url(account.publicKey);
  const nonce = random(NONCE_BYTES);
  const gcm = {
    name: 'AES-GCM',
    iv: nonce as BufferSource,
    additionalData: headerBytes(acct, epoch, device.id) as BufferSource,
  };
  const ct = new Uint8Array(await subtle.encrypt(gcm, key, epochKey as BufferSource));
  const body = {
    v: GRANT_VERSION,
    account: acct,
    epoch,
    device: device.id,
    eph: toBase64Url(ephPub),
    sealed: toBase64Url(concatBytes(nonce, ct)),
  } as const;
  return { ...body, sig: toBase64Url(await account.sign(grantSignedBytes(body))) };
}

function parseGrant(grant: unknown): EpochGrant {
  return parseVersioned(grant, GrantSchema, GRANT_VERSION, (kind, detail) =>
    kind === 'version'
      ? new EpochKeyError(
          'EPOCH_GRANT_VERSION',
          `epoch grant version ${detail} is not supported (expected 1); update WOS`,
        )
      : new EpochKeyError('EPOCH_GRANT_MALFORMED', `epoch grant is malformed (${detail})`),
  );
}

/**
 * Checks a grant's shape and account signature without opening it: what a device that relays
 * a grant for another device (grant-relay.ts) can check. Throws `EpochKeyError`.
 */
export async function verifyEpochGrant(
  subtle: SubtleCrypto,
  grant: unknown,
  accountPublicKey: Uint8Array,
): Promise<EpochGrant> {
  const g = parseGrant(grant);
  await checkGrantSignature(subtle, g, accountPublicKey);
  return g;
}

async function checkGrantSignature(
  subtle: SubtleCrypto,
  g: EpochGrant,
  accountPublicKey: Uint8Array,
): Promise<void> {
  const signed =
    g.account === toBase64Url(accountPublicKey) &&
    (await ed25519Verify(subtle, accountPublicKey, grantSignedBytes(g), fromBase64Url(g.sig)));
  if (!signed) {
    throw new EpochKeyError(
      'EPOCH_GRANT_BAD_SIGNATURE',
      `epoch ${g.epoch} grant is not signed by this account's key; it is ignored`,
    );
  }
}

/**
 * Checks a grant (shape, account signature, addressed to `self`) and opens it with this
 * device's box key: the raw epoch root (keep it wrapped at rest; it is needed to grant the
 * epoch to devices enrolled later).
 */
export async function openEpochGrant(
  subtle: SubtleCrypto,
  grant: unknown,
  accountPublicKey: Uint8Array,
  self: {
    readonly deviceId: string;
    readonly boxPrivateKey: CryptoKey;
    readonly boxPublicKey: Uint8Array;
  },
): Promise<{ epoch: number; key: Uint8Array }> {
  const g = parseGrant(grant);
  if (g.device !== self.deviceId) {
    throw new EpochKeyError(
      'EPOCH_GRANT_WRONG_DEVICE',
      `epoch ${g.epoch} grant is for device ${g.device}, not this one (${self.deviceId})`,
    );
  }
  await checkGrantSignature(subtle, g, accountPublicKey);
  const eph = fromBase64Url(g.eph);
  const sealed = fromBase64Url(g.sealed);
  try {
    const key = await sealKey(subtle, self.boxPrivateKey, eph, eph, self.boxPublicKey);
    const gcm = {
      name: 'AES-GCM',
      iv: sealed.subarray(0, NONCE_BYTES) as BufferSource,
      additionalData: headerBytes(g.account, g.epoch, g.device) as BufferSource,
    };
    const pt = new Uint8Array(
      await subtle.decrypt(gcm, key, sealed.subarray(NONCE_BYTES) as BufferSource),
    );
    return { epoch: g.epoch, key: pt };
  } catch {
    throw new EpochKeyError(
      'EPOCH_GRANT_UNOPENABLE',
      `epoch ${g.epoch} grant does not open with this device's box key (sealed to another ` +
        'key, or damaged); ask an enrolled device to grant it again',
    );
  }
}
