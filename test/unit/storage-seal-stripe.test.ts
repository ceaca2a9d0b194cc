import { describe, expect, it } from 'vitest';
import { sealChunk } from '../../src/core/storage/cipher.ts';
import { deriveFileKeys, importStorageRootKey } from '../../src/core/storage/keys.ts';
import { openPieces, sealPieces } from '../../src/core/storage/seal-stripe.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';

const subtle = globalThis.crypto.subtle;
const bytes = seededBytes(seededRandom(9));
const root = await importStorageRootKey(subtle, bytes(32));
const keys = await deriveFileKeys(subtle, root, bytes(16));

describe('sealing a stripe', () => {
  const pieces = [bytes(1000), bytes(1000), bytes(1000), bytes(1000)];

  it('seals pieces as consecutive chunks, the last one final, and opens them back', async () => {
    const sealed = await sealPieces(subtle, keys, 8, pieces, true);
    expect(sealed[1]).toEqual(await sealChunk(subtle, keys, 9, pieces[1]!, false));
    expect(sealed[3]).toEqual(await sealChunk(subtle, keys, 11, pieces[3]!, true));
    // Chunks 8..11 of a 12-chunk file.
    expect(await openPieces(subtle, keys, 8, sealed, 12)).toEqual(pieces);
  });

  it('a stripe sealed as not last does not open as the end of the file', async () => {
    const sealed = await sealPieces(subtle, keys, 8, pieces, false);
    await expect(openPieces(subtle, keys, 8, sealed, 12)).rejects.toMatchObject({
      code: 'TRUNCATED',
    });
  });
});
