import { describe, expect, it } from 'vitest';
import { concatBytes, toHex, utf8 } from '../../src/core/bytes.ts';
import { ChunkOpener, ChunkSealer, openChunk } from '../../src/core/storage/chunk-stream.ts';
import {
  chunkAad,
  chunkNonce,
  openMeta,
  openName,
  sealChunk,
  sealMeta,
  sealName,
} from '../../src/core/storage/cipher.ts';
import {
  CONTENT_KEY_INFO,
  deriveFileKeys,
  importStorageRootKey,
  META_KEY_INFO,
  newFileId,
  type FileKeys,
} from '../../src/core/storage/keys.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));

async function gcm(key: string, iv: string, pt: string, aad: string): Promise<string> {
  const k = await subtle.importKey('raw', hex(key) as BufferSource, 'AES-GCM', false, ['encrypt']);
  const params = {
    name: 'AES-GCM',
    iv: hex(iv) as BufferSource,
    additionalData: hex(aad) as BufferSource,
  };
  return toHex(new Uint8Array(await subtle.encrypt(params, k, hex(pt) as BufferSource)));
}

async function hkdf(ikm: string, salt: string, info: string, bytes: number): Promise<string> {
  const k = await subtle.importKey('raw', hex(ikm) as BufferSource, 'HKDF', false, ['deriveBits']);
  const params = {
    name: 'HKDF',
    hash: 'SHA-256',
    salt: hex(salt) as BufferSource,
    info: hex(info) as BufferSource,
  };
  return toHex(new Uint8Array(await subtle.deriveBits(params, k, bytes * 8)));
}

describe('primitives through WebCrypto match published vectors', () => {
  const K16 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
  const P16 =
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
    '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39';
  const C16 =
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
    '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662';

  it('AES-256-GCM: GCM spec (SP 800-38D) test cases 13, 14 and 16', async () => {
    const zero = '00'.repeat(32);
    expect(await gcm(zero, '00'.repeat(12), '', '')).toBe('530f8afbc74536b9a963b4f1c4cb738b');
    expect(await gcm(zero, '00'.repeat(12), '00'.repeat(16), '')).toBe(
      'cea7403d4d606b6e074ec5d3baf39d18' + 'd0d1c8a799996bf0265b98b5d48ab919',
    );
    const aad = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
    expect(await gcm(K16, 'cafebabefacedbaddecaf888', P16, aad)).toBe(
      C16 + '76fc6ece0f4e1768cddf8853bb2d551b',
    );
  });

  it('AES-256-GCM: NIST CAVP gcmEncryptExtIV256, 96-bit IV, empty text, count 0', async () => {
    const key = 'b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4';
    expect(await gcm(key, '516c33929df5a3284ff463d7', '', '')).toBe(
      'bdc1ac884d332457a1d2664f168c76f0',
    );
  });

  it('HKDF-SHA-256: RFC 5869 test cases 1 and 3', async () => {
    const ikm = '0b'.repeat(22);
    expect(await hkdf(ikm, '000102030405060708090a0b0c', 'f0f1f2f3f4f5f6f7f8f9', 42)).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
    expect(await hkdf(ikm, '', '', 42)).toBe(
      '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
    );
  });
});

const rootRaw = random(32);
const root = await importStorageRootKey(subtle, rootRaw);
const newKeys = (): Promise<FileKeys> => deriveFileKeys(subtle, root, newFileId(random));

describe('key hierarchy and framing', () => {
  it('derives per-file keys as documented: HKDF(root, salt = file id, info = label)', async () => {
    const fileId = newFileId(random);
    const keys = await deriveFileKeys(subtle, root, fileId, { extractable: true });
    const raw = async (k: CryptoKey): Promise<string> =>
      toHex(new Uint8Array(await subtle.exportKey('raw', k)));
    expect(await raw(keys.content)).toBe(
      await hkdf(toHex(rootRaw), toHex(fileId), toHex(utf8(CONTENT_KEY_INFO)), 32),
    );
    expect(await raw(keys.meta)).toBe(
      await hkdf(toHex(rootRaw), toHex(fileId), toHex(utf8(META_KEY_INFO)), 32),
    );
    expect(await raw(keys.meta)).not.toBe(await raw(keys.content));
  });

  it('keeps the root and, by default, the file keys non-extractable', async () => {
    const keys = await newKeys();
    expect(root.extractable).toBe(false);
    expect(keys.content.extractable).toBe(false);
    await expect(subtle.exportKey('raw', root)).rejects.toThrow();
    await expect(importStorageRootKey(subtle, new Uint8Array(31))).rejects.toThrow(/32 bytes/);
  });

  it('lays out nonce and associated data as documented, and seals with exactly those', async () => {
    expect(toHex(chunkNonce(1))).toBe('000000000000000000000001');
    expect(toHex(chunkNonce(2 ** 40 + 5))).toBe('000000000000010000000005');
    const fileId = hex('00112233445566778899aabbccddeeff');
    expect(toHex(chunkAad(fileId, 258, true))).toBe(`${toHex(fileId)}000000000000010201`);
    const keys = await deriveFileKeys(subtle, root, fileId, { extractable: true });
    const sealed = await sealChunk(subtle, keys, 258, utf8('hello'), true);
    const rawKey = toHex(new Uint8Array(await subtle.exportKey('raw', keys.content)));
    const aad = toHex(chunkAad(fileId, 258, true));
    expect(toHex(sealed)).toBe(
      await gcm(rawKey, toHex(chunkNonce(258)), toHex(utf8('hello')), aad),
    );
  });

  it('refuses bad file ids and indices with BAD_ARGUMENT', async () => {
    const keys = await newKeys();
    expect(() => chunkNonce(-1)).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }));
    expect(() => chunkNonce(2 ** 53)).toThrow(/safe integer/);
    expect(() => chunkAad(new Uint8Array(15), 0, false)).toThrow(/16 bytes/);
    await expect(deriveFileKeys(subtle, root, new Uint8Array(8))).rejects.toThrow(/16 bytes/);
    await expect(sealChunk(subtle, keys, 1.5, new Uint8Array(1), false)).rejects.toThrow(/integer/);
  });
});

async function sealAll(keys: FileKeys, parts: Uint8Array[]): Promise<Uint8Array[]> {
  const sealer = new ChunkSealer(subtle, keys);
  return Promise.all(parts.map((p, i) => sealer.seal(p, i === parts.length - 1)));
}

async function openAll(keys: FileKeys, sealed: Uint8Array[], count?: number): Promise<Uint8Array> {
  const opener = new ChunkOpener(subtle, keys, count === undefined ? {} : { count });
  const out: Uint8Array[] = [];
  for (const s of sealed) out.push((await opener.open(s)).plaintext);
  opener.finish();
  return concatBytes(...out);
}

describe('content chunks', () => {
  const parts = [random(1000), random(1000), random(1000), random(1000), random(17)];
  const whole = concatBytes(...parts);

  it('round-trip with and without a known count, including an empty final chunk', async () => {
    const keys = await newKeys();
    const sealed = await sealAll(keys, parts);
    expect(sealed[0]).toHaveLength(1016);
    expect(await openAll(keys, sealed)).toEqual(whole);
    expect(await openAll(keys, sealed, parts.length)).toEqual(whole);
    const withEmpty = await sealAll(keys, [...parts.slice(0, 2), new Uint8Array(0)]);
    expect(await openAll(keys, withEmpty)).toEqual(concatBytes(...parts.slice(0, 2)));
    const single = await sealAll(keys, [utf8('one')]);
    expect(await openAll(keys, single, 1)).toEqual(utf8('one'));
    const sealer = new ChunkSealer(subtle, keys);
    await sealer.seal(utf8('x'), true);
    await expect(sealer.seal(utf8('y'), false)).rejects.toThrow(/already sealed/);
  });

  const code = (c: string): unknown => expect.objectContaining({ code: c });
  type Case = [string, (s: Uint8Array[], k: FileKeys) => Promise<unknown>, string];
  const flip = (b: Uint8Array, at: number): Uint8Array => {
    const c = b.slice();
    c[at]! ^= 1;
    return c;
  };
  const cases: Case[] = [
    ['wrong key', async (s) => openAll(await newKeys(), s), 'WRONG_KEY_OR_CORRUPT'],
    [
      'bit flipped in ciphertext',
      (s, k) => openAll(k, [s[0]!, flip(s[1]!, 5), ...s.slice(2)]),
      'WRONG_KEY_OR_CORRUPT',
    ],
    [
      'bit flipped in tag',
      (s, k) => openAll(k, [flip(s[0]!, 1010), ...s.slice(1)]),
      'WRONG_KEY_OR_CORRUPT',
    ],
    [
      'chunk cut short',
      (s, k) => openAll(k, [s[0]!.subarray(0, 900), ...s.slice(1)]),
      'WRONG_KEY_OR_CORRUPT',
    ],
    [
      'chunk shorter than a tag',
      (s, k) => openAll(k, [s[0]!.subarray(0, 9)]),
      'WRONG_KEY_OR_CORRUPT',
    ],
    [
      'two chunks swapped',
      (s, k) => openAll(k, [s[0]!, s[2]!, s[1]!, s[3]!, s[4]!]),
      'CHUNK_OUT_OF_ORDER',
    ],
    [
      'a middle chunk dropped',
      (s, k) => openAll(k, [s[0]!, s[2]!, s[3]!, s[4]!]),
      'CHUNK_OUT_OF_ORDER',
    ],
    ['a chunk repeated', (s, k) => openAll(k, [s[0]!, s[0]!, ...s.slice(1)]), 'CHUNK_OUT_OF_ORDER'],
    [
      'final chunk moved first',
      (s, k) => openAll(k, [s[4]!, ...s.slice(0, 4)]),
      'CHUNK_OUT_OF_ORDER',
    ],
    ['a chunk after the final', (s, k) => openAll(k, [...s, s[2]!]), 'CHUNK_OUT_OF_ORDER'],
    ['final chunk dropped', (s, k) => openAll(k, s.slice(0, 4)), 'TRUNCATED'],
    ['final dropped, count known', (s, k) => openAll(k, s.slice(0, 4), 5), 'TRUNCATED'],
    ['count says fewer chunks', (s, k) => openAll(k, s.slice(0, 3), 3), 'TRUNCATED'],
    ['count says more chunks', (s, k) => openAll(k, s, 6), 'CHUNK_OUT_OF_ORDER'],
    ['no chunk at all', (_s, k) => openAll(k, []), 'TRUNCATED'],
  ];
  for (const [name, run, expected] of cases) {
    it(`${name} → ${expected}`, async () => {
      const keys = await newKeys();
      await expect(run(await sealAll(keys, parts), keys)).rejects.toThrow(code(expected));
    });
  }

  it('a chunk of another file at the same index does not open', async () => {
    const [a, b] = [await newKeys(), await newKeys()];
    const other = await sealAll(b, parts);
    await expect(openChunk(subtle, a, 1, other[1]!, false)).rejects.toThrow(
      code('WRONG_KEY_OR_CORRUPT'),
    );
  });

  it('says which chunk a misplaced one is', async () => {
    const keys = await newKeys();
    const s = await sealAll(keys, parts);
    await expect(openChunk(subtle, keys, 1, s[3]!, false)).rejects.toThrow(
      expect.objectContaining({ code: 'CHUNK_OUT_OF_ORDER', expected: 1, found: 3 }),
    );
  });
});

describe('names and metadata', () => {
  it('round-trip, hide the exact length, and use a fresh nonce each time', async () => {
    const keys = await newKeys();
    const name = 'Résumé 2026 — final (v3).pdf';
    const sealed = await sealName(subtle, keys, random, name);
    expect(await openName(subtle, keys, sealed)).toBe(name);
    expect((await sealName(subtle, keys, random, 'a')).length).toBe(
      (await sealName(subtle, keys, random, 'a much longer name.txt')).length,
    );
    expect(toHex(await sealName(subtle, keys, random, name))).not.toBe(toHex(sealed));
    const meta = random(300);
    expect(
      await openMeta(
        subtle,
        keys,
        'manifest',
        await sealMeta(subtle, keys, random, 'manifest', meta),
      ),
    ).toEqual(meta);
  });

  it('refuse a wrong key, another file, another purpose and any altered byte', async () => {
    const keys = await newKeys();
    const sealed = await sealName(subtle, keys, random, 'report.pdf');
    const err = expect.objectContaining({ code: 'WRONG_KEY_OR_CORRUPT' });
    await expect(openName(subtle, await newKeys(), sealed)).rejects.toThrow(err);
    await expect(openMeta(subtle, keys, 'manifest', sealed)).rejects.toThrow(err);
    for (const at of [0, 11, 12, 40, sealed.length - 1]) {
      const bad = sealed.slice();
      bad[at]! ^= 0x80;
      await expect(openName(subtle, keys, bad)).rejects.toThrow(err);
    }
    await expect(openName(subtle, keys, sealed.subarray(0, 20))).rejects.toThrow(err);
  });
});
