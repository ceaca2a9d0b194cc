import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../../src/core/bytes.ts';
import {
  pairingCommitment,
  pairingWords,
  PAIRING_WORDS,
} from '../../src/core/account/pairing-words.ts';

const subtle = globalThis.crypto.subtle;
const A = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i));
const B = Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : 200 - i));

describe('pairing words', () => {
  it('the wordlist has 256 distinct short lowercase words, distinct in 4 letters', () => {
    expect(PAIRING_WORDS).toHaveLength(256);
    expect(new Set(PAIRING_WORDS).size).toBe(256);
    expect(new Set(PAIRING_WORDS.map((w) => w.slice(0, 4))).size).toBe(256);
    for (const w of PAIRING_WORDS) expect(w).toMatch(/^[a-z]{3,6}$/);
  });

  it('gives the fixed words for fixed keys, in either order, from SHA-256 as specified', async () => {
    const words = await pairingWords(subtle, A, B);
    expect(words).toEqual(['cider', 'ginger', 'sunset', 'castle', 'pizza']);
    expect(await pairingWords(subtle, B, A)).toEqual(words);
    const h = crypto
      .createHash('sha256')
      .update(concatBytes(utf8('wos/v1/pairing-words|'), A, B))
      .digest();
    expect(words).toEqual([...h.subarray(0, 5)].map((b) => PAIRING_WORDS[b]));
    expect(await pairingWords(subtle, A, B, 4)).toEqual(words.slice(0, 4));
  });

  it('different keys (a man in the middle) give different words', async () => {
    const M = B.slice();
    M[64]! ^= 1;
    expect(await pairingWords(subtle, A, M)).not.toEqual(await pairingWords(subtle, A, B));
    const c = await pairingCommitment(subtle, A);
    expect(c).toHaveLength(32);
    expect(c).not.toEqual(await pairingCommitment(subtle, B));
  });

  it('refuses bad word counts and degenerate keys', async () => {
    await expect(pairingWords(subtle, A, B, 3)).rejects.toThrow(/4 to 8/);
    await expect(pairingWords(subtle, A, B, 9)).rejects.toThrow(/4 to 8/);
    await expect(pairingWords(subtle, A, A.slice())).rejects.toThrow(/same key/);
    await expect(pairingWords(subtle, A, new Uint8Array(0))).rejects.toThrow(/empty/);
  });
});
