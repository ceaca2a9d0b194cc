import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, utf8 } from '../../src/core/bytes.ts';
import { HandleError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  checkHandleKey,
  formatHandle,
  handleOf,
  handleTagOf,
  normalizeHandleName,
  parseHandle,
} from '../../src/core/account/handle.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);

async function codeOf(fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(HandleError);
    return (e as HandleError).code;
  }
}

describe('handles', () => {
  it('tag of the fixed account key is the fixed vector, from SHA-256 as specified', async () => {
    const k = await deriveAccountKeys(subtle, SECRET);
    expect(await handleTagOf(subtle, k.publicKey)).toBe('7fln');
    // Independent: first 20 bits of SHA-256(label ‖ key) in RFC 4648 base32.
    const h = crypto
      .createHash('sha256')
      .update(concatBytes(utf8('wos/v1/handle-tag|'), k.publicKey))
      .digest();
    const bits = ((h[0]! << 16) | (h[1]! << 8) | h[2]!) >> 4;
    const A = 'abcdefghijklmnopqrstuvwxyz234567';
    const tag = [15, 10, 5, 0].map((s) => A[(bits >> s) & 31]).join('');
    expect(tag).toBe('7fln');
    const handle = await handleOf(subtle, 'Alice', k.publicKey);
    expect(formatHandle(handle)).toBe('alice#7fln');
    await checkHandleKey(subtle, parseHandle('ALICE#7FLN'), k.publicKey);
  });

  it('normalizes names to NFC lowercase and accepts letters of any script', () => {
    expect(normalizeHandleName('Ali_ce-9')).toBe('ali_ce-9');
    expect(normalizeHandleName('Jose\u0301')).toBe('jos\u00e9'); // NFD → NFC
    expect(normalizeHandleName('ÉMILIE')).toBe('émilie');
    expect(normalizeHandleName('明美')).toBe('明美');
    expect(normalizeHandleName('ＡＬＩＣＥ')).toBe('alice'); // full-width folds (NFKC)
    expect(normalizeHandleName('\ufb01ne')).toBe('fine'); // the ﬁ ligature too
    expect(normalizeHandleName('a'.repeat(32))).toHaveLength(32);
    expect(parseHandle('  Bob#ab2c ')).toEqual({ name: 'bob', tag: 'ab2c' });
    expect(() => parseHandle('x#y#abcd')).toThrow(HandleError); // '#' is not a name character
  });

  it('gives a specific error for each bad handle', async () => {
    const cases: [string, string][] = [
      ['alice', 'HANDLE_MALFORMED'],
      ['#abcd', 'HANDLE_NAME'],
      [`${'a'.repeat(33)}#abcd`, 'HANDLE_NAME'],
      ['al ice#abcd', 'HANDLE_NAME'],
      ['al.ice#abcd', 'HANDLE_NAME'],
      ['alice😀#abcd', 'HANDLE_NAME'],
      ['alice#', 'HANDLE_TAG'],
      ['alice#abc', 'HANDLE_TAG'],
      ['alice#abcde', 'HANDLE_TAG'],
      ['alice#ab1c', 'HANDLE_TAG'], // 1 is not in the base32 alphabet
      ['alice#ab8c', 'HANDLE_TAG'],
    ];
    for (const [text, code] of cases)
      expect([text, await codeOf(() => parseHandle(text))]).toEqual([text, code]);
    const k = await deriveAccountKeys(subtle, SECRET);
    expect(await codeOf(() => checkHandleKey(subtle, parseHandle('alice#aaaa'), k.publicKey))).toBe(
      'HANDLE_TAG_MISMATCH',
    );
    await expect(checkHandleKey(subtle, parseHandle('alice#aaaa'), k.publicKey)).rejects.toThrow(
      /#7fln/,
    );
  });
});
