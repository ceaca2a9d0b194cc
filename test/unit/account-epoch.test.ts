import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url, toHex } from '../../src/core/bytes.ts';
import { EpochKeyError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  generateBoxKeyPair,
  grantEpochKey,
  newEpochKey,
  openEpochGrant,
} from '../../src/core/account/epoch-keys.ts';
import { openChunk } from '../../src/core/storage/chunk-stream.ts';
import { sealChunk } from '../../src/core/storage/cipher.ts';
import { deriveFileKeys, importStorageRootKey, newFileId } from '../../src/core/storage/keys.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const OTHER = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

async function device(id: string) {
  const box = await generateBoxKeyPair(subtle);
  return {
    id,
    box: box.publicKey,
    self: { deviceId: id, boxPrivateKey: box.keyPair.privateKey, boxPublicKey: box.publicKey },
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(EpochKeyError);
    return (e as EpochKeyError).code;
  }
}

describe('storage epoch grants', () => {
  it('a remaining device opens its grant; the revoked device has nothing to open', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const kept = await device('aaaaaaaaaaaaaaaa');
    const revoked = await device('bbbbbbbbbbbbbbbb');
    const epochKey = newEpochKey(random);
    const grant = await grantEpochKey(subtle, random, account, 1, epochKey, kept);
    expect(fromBase64Url(grant.eph)).toHaveLength(65);
    const opened = await openEpochGrant(
      subtle,
      JSON.parse(JSON.stringify(grant)),
      account.publicKey,
      kept.self,
    );
    expect(opened.epoch).toBe(1);
    expect(toHex(opened.key)).toBe(toHex(epochKey));
    // A file written under epoch 1 opens with the granted root, not with epoch 0's root.
    const fileId = newFileId(random);
    const root1 = await importStorageRootKey(subtle, opened.key);
    const keys1 = await deriveFileKeys(subtle, root1, fileId);
    const sealed = await sealChunk(subtle, keys1, 0, Uint8Array.of(1, 2, 3), true);
    expect([...(await openChunk(subtle, keys1, 0, sealed, true))]).toEqual([1, 2, 3]);
    const keys0 = await deriveFileKeys(subtle, account.storageRootEpoch0, fileId);
    await expect(openChunk(subtle, keys0, 0, sealed, true)).rejects.toThrow();
    // The revoked device, given the remaining device's grant, cannot open it.
    expect(await codeOf(openEpochGrant(subtle, grant, account.publicKey, revoked.self))).toBe(
      'EPOCH_GRANT_WRONG_DEVICE',
    );
    const relabelled = { ...grant, device: revoked.id };
    expect(await codeOf(openEpochGrant(subtle, relabelled, account.publicKey, revoked.self))).toBe(
      'EPOCH_GRANT_BAD_SIGNATURE',
    );
    // Even re-signed by the account for its id, a grant sealed to another box key stays shut.
    const resealed = await grantEpochKey(subtle, random, account, 1, epochKey, kept);
    const stolen = await grantEpochKey(subtle, random, account, 1, epochKey, {
      id: revoked.id,
      box: kept.box,
    });
    expect(stolen.device).toBe(revoked.id);
    expect(await codeOf(openEpochGrant(subtle, stolen, account.publicKey, revoked.self))).toBe(
      'EPOCH_GRANT_UNOPENABLE',
    );
    expect(resealed.sealed).not.toBe(grant.sealed); // fresh ephemeral key and nonce each time
  });

  it('refuses malformed, forged and tampered grants with specific codes', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const other = await deriveAccountKeys(subtle, OTHER);
    const d = await device('aaaaaaaaaaaaaaaa');
    const grant = await grantEpochKey(subtle, random, account, 3, newEpochKey(random), d);
    const sealed = fromBase64Url(grant.sealed);
    sealed[20]! ^= 1;
    const cases: [string, unknown, string][] = [
      ['number', 5, 'EPOCH_GRANT_MALFORMED'],
      ['v9', { ...grant, v: 9 }, 'EPOCH_GRANT_VERSION'],
      ['epoch 0', { ...grant, epoch: 0 }, 'EPOCH_GRANT_MALFORMED'],
      ['short sealed', { ...grant, sealed: grant.sealed.slice(4) }, 'EPOCH_GRANT_MALFORMED'],
      ['other epoch', { ...grant, epoch: 4 }, 'EPOCH_GRANT_BAD_SIGNATURE'],
      [
        'tampered ciphertext',
        { ...grant, sealed: toBase64Url(sealed) },
        'EPOCH_GRANT_BAD_SIGNATURE',
      ],
      [
        'foreign account',
        await grantEpochKey(subtle, random, other, 3, newEpochKey(random), d),
        'EPOCH_GRANT_BAD_SIGNATURE',
      ],
    ];
    for (const [what, g, code] of cases) {
      expect([what, await codeOf(openEpochGrant(subtle, g, account.publicKey, d.self))]).toEqual([
        what,
        code,
      ]);
    }
    await expect(grantEpochKey(subtle, random, account, 0, newEpochKey(random), d)).rejects.toThrow(
      /epoch 0/,
    );
  });
});
