import { describe, expect, it } from 'vitest';
import type { AccountApi } from '../../src/core/account/account-api.ts';
import { AccountSession } from '../../src/core/account/account-session.ts';
import { MemoryAccountStore } from '../../src/core/account/account-store.ts';
import { verifyCertificate } from '../../src/core/account/certificate.ts';
import { newEpochKey } from '../../src/core/account/epoch-keys.ts';
import type { PairingDevice, PairingResult } from '../../src/core/account/pairing.ts';
import { bytesEqual, toBase64Url } from '../../src/core/bytes.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
/** Pairing never talks to the server. */
const noServer = new Proxy({} as AccountApi, {
  get: () => () => Promise.reject(new Error('pairing must not call the server')),
});

async function device() {
  const identity = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
  const session = await AccountSession.open({
    subtle,
    random,
    clock: { now: () => 1_700_000_000_000 },
    store: new MemoryAccountStore(),
    api: noServer,
    device: identity,
  });
  return { identity, session };
}

describe('AccountSession pairing', () => {
  it('the host gives the secret, the handle and every epoch it holds; the guest is enrolled with its own certificate', async () => {
    const host = await device();
    const { handle } = await host.session.create('alice');
    const epochKey = newEpochKey(random);
    await host.session.addEpochKey(1, epochKey);

    const guest = await device();
    const target: PairingDevice = {
      id: guest.identity.deviceId,
      box: await guest.session.boxPublicKey(),
      name: 'Laptop',
      kind: 'tab',
    };
    const source = host.session.pairingSource();
    const result: PairingResult = {
      secret: await source.secret(),
      handle: source.handle(),
      grants: await source.grantsFor(target),
    };
    expect(result.grants).toHaveLength(1);
    const info = await guest.session.signInWithPairing(result, 'Laptop');
    expect(info.handle).toBe(handle);
    expect(info.accountKey).toBe(host.session.current()!.accountKey);
    expect(guest.session.epochs).toEqual([0, 1]);
    expect(bytesEqual(await guest.session.exportEpochKey(1), epochKey)).toBe(true);
    const cert = await verifyCertificate(subtle, info.certificate, host.session.accountKey!);
    expect(cert.device.id).toBe(guest.identity.deviceId);
    expect(cert.name).toBe('Laptop');
    // The secret was zeroed once used.
    expect(result.secret.every((b) => b === 0)).toBe(true);
  });

  it('refuses a handle that does not belong to the delivered secret', async () => {
    const host = await device();
    await host.session.create('alice');
    const guest = await device();
    const source = host.session.pairingSource();
    const err = await guest.session
      .signInWithPairing({ secret: await source.secret(), handle: 'mallory#aaaa', grants: [] })
      .catch((e: { code?: string }) => e.code);
    expect(err).toBe('HANDLE_TAG_MISMATCH');
    expect(guest.session.current()).toBeNull();
    void toBase64Url;
  });
});
