import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/core/bytes.ts';
import { DeviceWrapError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import { newAccountSecret } from '../../src/core/account/account-secret.ts';
import {
  generateDeviceWrapKey,
  unwrapOnDevice,
  wrapForDevice,
} from '../../src/core/account/device-wrap.ts';
import { ownerVerifier } from '../../src/core/account/ed25519.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';
import { signDelete, verifyDelete } from '../../src/core/storage/owner.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
const CTX = { purpose: 'account-secret', deviceId: 'aaaaaaaaaaaaaaaa' };

describe('secrets wrapped at rest on a device', () => {
  it('round-trips under a non-extractable wrap key', async () => {
    const key = await generateDeviceWrapKey(subtle);
    expect(key.extractable).toBe(false);
    const secret = newAccountSecret(random);
    const blob = await wrapForDevice(subtle, random, key, CTX, secret);
    expect(blob).toHaveLength(1 + 12 + 32 + 16);
    expect(toHex(blob)).not.toContain(toHex(secret));
    expect(toHex(await unwrapOnDevice(subtle, key, CTX, blob))).toBe(toHex(secret));
  });

  it('refuses another key, purpose or device, and damaged blobs (DEVICE_WRAP_UNOPENABLE)', async () => {
    const key = await generateDeviceWrapKey(subtle);
    const blob = await wrapForDevice(subtle, random, key, CTX, newAccountSecret(random));
    const flipped = blob.slice();
    flipped[20]! ^= 1;
    const v2 = blob.slice();
    v2[0] = 2;
    const attempts: [CryptoKey, typeof CTX, Uint8Array][] = [
      [await generateDeviceWrapKey(subtle), CTX, blob],
      [key, { ...CTX, purpose: 'epoch-1' }, blob],
      [key, { ...CTX, deviceId: 'bbbbbbbbbbbbbbbb' }, blob],
      [key, CTX, flipped],
      [key, CTX, v2],
      [key, CTX, blob.subarray(0, 28)],
      [key, CTX, new Uint8Array(0)],
    ];
    for (const [k, ctx, b] of attempts) {
      await expect(unwrapOnDevice(subtle, k, ctx, b)).rejects.toMatchObject({
        code: 'DEVICE_WRAP_UNOPENABLE',
        constructor: DeviceWrapError,
      });
    }
    await expect(
      wrapForDevice(subtle, random, key, { ...CTX, purpose: 'A B' }, blob),
    ).rejects.toThrow(/purpose/);
  });
});

describe('ownerVerifier', () => {
  it('checks account (Ed25519) and device (ECDSA) owner signatures', async () => {
    const account = await deriveAccountKeys(subtle, newAccountSecret(random));
    const device = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
    const verify = ownerVerifier(subtle);
    for (const owner of [account, device]) {
      const sig = await signDelete(owner, 'file-1');
      const pub = Buffer.from(owner.publicKey).toString('base64url');
      expect(await verifyDelete(verify, pub, 'file-1', sig)).toBe(true);
      expect(await verifyDelete(verify, pub, 'file-2', sig)).toBe(false);
    }
    expect(await verify(account.publicKey, utf8('x'), new Uint8Array(64))).toBe(false);
    expect(await verify(new Uint8Array(7), utf8('x'), new Uint8Array(64))).toBe(false);
  });
});
