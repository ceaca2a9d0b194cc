import { concatBytes, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { DeviceWrapError } from './account-errors.ts';

/**
 * Secrets at rest on a device (the account secret, storage epoch keys) are kept wrapped under
 * the device's own AES-256-GCM wrap key, generated non-extractable and stored next to the
 * device identity key (IndexedDB on a tab, the data folder on an agent). Raw secret bytes never
 * go to localStorage, logs or URLs. Blob layout:
 *
 *   0x01 ‖ nonce (12 random) ‖ AES-GCM(wrapKey, nonce, secret, AAD) (len + 16)
 *   AAD = UTF-8("wos/v1/device-wrap|" ‖ purpose ‖ "|" ‖ deviceId)
 *
 * `purpose` names what is inside ("account-secret", "epoch-3", …) so a blob cannot be passed off
 * as another, nor moved to another device's store.
 */
export const DEVICE_WRAP_VERSION = 1;
const NONCE_BYTES = 12;
const LABEL = 'wos/v1/device-wrap|';
const PURPOSE_RE = /^[a-z0-9][a-z0-9.-]{0,63}$/;

/** A new non-extractable AES-256-GCM device wrap key. */
export function generateDeviceWrapKey(subtle: SubtleCrypto): Promise<CryptoKey> {
  return subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

function aad(purpose: string, deviceId: string): Uint8Array {
  if (!PURPOSE_RE.test(purpose))
    throw new ArgumentError(`bad wrap purpose ${JSON.stringify(purpose)}`);
  return utf8(`${LABEL}${purpose}|${deviceId}`);
}

export async function wrapForDevice(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
  wrapKey: CryptoKey,
  ctx: { readonly purpose: string; readonly deviceId: string },
  secret: Uint8Array,
): Promise<Uint8Array> {
  const nonce = random(NONCE_BYTES);
  const params = {
    name: 'AES-GCM',
    iv: nonce as BufferSource,
    additionalData: aad(ctx.purpose, ctx.deviceId) as BufferSource,
  };
  const ct = new Uint8Array(await subtle.encrypt(params, wrapKey, secret as BufferSource));
  return concatBytes(Uint8Array.of(DEVICE_WRAP_VERSION), nonce, ct);
}

/** Opens a blob made by `wrapForDevice` with the same key, purpose and device id. */
export async function unwrapOnDevice(
  subtle: SubtleCrypto,
  wrapKey: CryptoKey,
  ctx: { readonly purpose: string; readonly deviceId: string },
  blob: Uint8Array,
): Promise<Uint8Array> {
  if (blob[0] !== DEVICE_WRAP_VERSION || blob.length < 1 + NONCE_BYTES + 16) {
    throw new DeviceWrapError(
      `the stored ${ctx.purpose} is not a version-1 wrapped blob (damaged storage); sign in again`,
    );
  }
  const params = {
    name: 'AES-GCM',
    iv: blob.subarray(1, 1 + NONCE_BYTES) as BufferSource,
    additionalData: aad(ctx.purpose, ctx.deviceId) as BufferSource,
  };
  try {
    return new Uint8Array(
      await subtle.decrypt(params, wrapKey, blob.subarray(1 + NONCE_BYTES) as BufferSource),
    );
  } catch {
    throw new DeviceWrapError(
      `the stored ${ctx.purpose} does not open with this device's wrap key (damaged, or ` +
        'copied from another device or purpose); sign in again',
    );
  }
}
