import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64Url, toBase64Url, toHex, utf8 } from '../../src/core/bytes.ts';
import { ShareLinkError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  decodeShareLink,
  encodeShareLink,
  shareCodeOf,
  shareRendezvousKey,
} from '../../src/core/account/share-link.ts';
import { openChunk } from '../../src/core/storage/chunk-stream.ts';
import { sealChunk } from '../../src/core/storage/cipher.ts';
import { deriveFileKeys, type FileKeys } from '../../src/core/storage/keys.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const FILE_ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const SHARE_ID = new Uint8Array(8).fill(7);
const EXPIRES = 1_800_000_000_000;
const LINK =
  'AQGgoaKjpKWmp6ipqqusra6vBwcHBwcHBwct8_nQLDQI4ewOR6fCb5a6bfRiBlnkkyTIQ1DZchwIv_vGLcgAyXlkv51X56tk' +
  '7I_gAgD7aktnsjO6biwp-lA7a0nSAAZt7y18hYXH';

async function fileKeys(): Promise<FileKeys> {
  const account = await deriveAccountKeys(subtle, SECRET);
  return deriveFileKeys(subtle, account.storageRootEpoch0, FILE_ID, { extractable: true });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(ShareLinkError);
    return (e as ShareLinkError).code;
  }
}

const hkdf = (ikm: Uint8Array, info: string, salt: Uint8Array): Uint8Array =>
  new Uint8Array(crypto.hkdfSync('sha256', ikm, salt, utf8(info), 32));

describe('share links', () => {
  it('encode the fixed vector: layout and check as documented', async () => {
    const keys = await fileKeys();
    const code = await encodeShareLink(subtle, {
      keys,
      shareId: SHARE_ID,
      expiresAt: EXPIRES + 999,
    });
    expect(code).toBe(LINK);
    expect(code).toHaveLength(136);
    const b = fromBase64Url(code);
    const content = new Uint8Array(await subtle.exportKey('raw', keys.content));
    const meta = new Uint8Array(await subtle.exportKey('raw', keys.meta));
    const body = concatBytes(
      Uint8Array.of(1, 1),
      FILE_ID,
      SHARE_ID,
      content,
      meta,
      Uint8Array.of(0x6b, 0x49, 0xd2, 0x00),
    );
    expect(toHex(b.subarray(0, 94))).toBe(toHex(body));
    const macKey = hkdf(concatBytes(content, meta), 'wos/v1/share-mac', new Uint8Array(0));
    const mac = crypto.createHmac('sha256', macKey).update(body).digest().subarray(0, 8);
    expect(toHex(b.subarray(94))).toBe(toHex(mac));
  });

  it('round-trips; the reader gets working keys and the owner the same rendezvous mesh', async () => {
    const keys = await fileKeys();
    const link = await decodeShareLink(subtle, `https://wos.example/#/s/${LINK}`, EXPIRES - 1);
    expect(toHex(link.fileId)).toBe(toHex(FILE_ID));
    expect(toHex(link.shareId)).toBe(toHex(SHARE_ID));
    expect(link.expiresAt).toBe(EXPIRES);
    expect(link.rendezvous).toBe(true);
    expect(link.meshKey).toBe(await shareRendezvousKey(subtle, keys, SHARE_ID));
    const content = new Uint8Array(await subtle.exportKey('raw', keys.content));
    const meta = new Uint8Array(await subtle.exportKey('raw', keys.meta));
    expect(link.meshKey).toBe(
      toBase64Url(hkdf(concatBytes(content, meta), 'wos/v1/share-rendezvous', SHARE_ID)),
    );
    expect(link.keys.content.extractable).toBe(false);
    const sealed = await sealChunk(subtle, keys, 3, utf8('hello'), true);
    expect(new TextDecoder().decode(await openChunk(subtle, link.keys, 3, sealed, true))).toBe(
      'hello',
    );
    // Without expiry: 131 characters; with a shared mesh key: 174, both: 179.
    const meshKey = toBase64Url(new Uint8Array(32).fill(9));
    const plain = await encodeShareLink(subtle, { keys, shareId: SHARE_ID });
    const viaMesh = await encodeShareLink(subtle, { keys, shareId: SHARE_ID, meshKey });
    const both = await encodeShareLink(subtle, {
      keys,
      shareId: SHARE_ID,
      meshKey,
      expiresAt: EXPIRES,
    });
    expect([plain.length, viaMesh.length, both.length]).toEqual([131, 174, 179]);
    const m = await decodeShareLink(subtle, `#/s/${both}`, 0);
    expect(m).toMatchObject({ meshKey, rendezvous: false, expiresAt: EXPIRES });
    expect(
      (await decodeShareLink(subtle, plain, Number.MAX_SAFE_INTEGER)).expiresAt,
    ).toBeUndefined();
    expect(shareCodeOf('  https://h/x?y=1#/s/abc ')).toBe('abc');
  });

  it('reports an expired link (SHARE_LINK_EXPIRED) only when given the time', async () => {
    expect(await codeOf(decodeShareLink(subtle, LINK, EXPIRES))).toBe('SHARE_LINK_EXPIRED');
    await expect(decodeShareLink(subtle, LINK, EXPIRES + 1)).rejects.toThrow(
      /expired on 2027-01-15/,
    );
    expect((await decodeShareLink(subtle, LINK)).expiresAt).toBe(EXPIRES);
  });

  it('every truncation is SHARE_LINK_TRUNCATED; extra bytes MALFORMED; unknown versions VERSION', async () => {
    for (let n = 0; n < LINK.length; n++) {
      expect([n, await codeOf(decodeShareLink(subtle, LINK.slice(0, n)))]).toEqual([
        n,
        'SHARE_LINK_TRUNCATED',
      ]);
    }
    const b = fromBase64Url(LINK);
    expect(
      await codeOf(decodeShareLink(subtle, toBase64Url(concatBytes(b, Uint8Array.of(0))))),
    ).toBe('SHARE_LINK_MALFORMED');
    for (const v of [0, 2, 255]) {
      const c = b.slice();
      c[0] = v;
      expect(await codeOf(decodeShareLink(subtle, toBase64Url(c)))).toBe('SHARE_LINK_VERSION');
    }
    const flags = b.slice();
    flags[1] = 0x05;
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(flags)))).toBe('SHARE_LINK_MALFORMED');
    for (const bad of [
      `${LINK.slice(0, 50)}+${LINK.slice(51)}`,
      `${LINK}=`,
      `${LINK}A`,
      `${LINK}AA`,
      'ab cd',
      '#/s/!!',
    ]) {
      expect(await codeOf(decodeShareLink(subtle, bad))).toBe('SHARE_LINK_MALFORMED');
    }
  });

  it('every changed character or flipped bit is detected (SHARE_LINK_TAMPERED)', async () => {
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 3; i < LINK.length; i++) {
      // From character 3 on the version and flags bytes are untouched: everything else is checked.
      const ch = A[(A.indexOf(LINK[i]!) + 1 + (i % 63)) % 64]!;
      const t = LINK.slice(0, i) + ch + LINK.slice(i + 1);
      expect([i, await codeOf(decodeShareLink(subtle, t))]).toEqual([i, 'SHARE_LINK_TAMPERED']);
    }
    const b = fromBase64Url(LINK);
    for (let byte = 2; byte < b.length; byte++) {
      const t = b.slice();
      t[byte]! ^= 1 << (byte % 8);
      expect([byte, await codeOf(decodeShareLink(subtle, toBase64Url(t)))]).toEqual([
        byte,
        'SHARE_LINK_TAMPERED',
      ]);
    }
    // Dropping the expiry (flag and bytes) without the file keys' check fails too.
    const noExpiry = concatBytes(Uint8Array.of(1, 0), b.subarray(2, 90), b.subarray(94));
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(noExpiry)))).toBe(
      'SHARE_LINK_TAMPERED',
    );
  });

  it('refuses bad inputs when encoding', async () => {
    const keys = await fileKeys();
    await expect(encodeShareLink(subtle, { keys, shareId: new Uint8Array(7) })).rejects.toThrow(
      /8 bytes/,
    );
    await expect(
      encodeShareLink(subtle, { keys, shareId: SHARE_ID, meshKey: 'short' }),
    ).rejects.toThrow(/mesh key/);
    await expect(
      encodeShareLink(subtle, { keys, shareId: SHARE_ID, expiresAt: 2 ** 32 * 1000 }),
    ).rejects.toThrow(/out of range/);
    const sealedOnly = await deriveFileKeys(
      subtle,
      (await deriveAccountKeys(subtle, SECRET)).storageRootEpoch0,
      FILE_ID,
    );
    await expect(
      encodeShareLink(subtle, { keys: sealedOnly, shareId: SHARE_ID }),
    ).rejects.toThrow();
  });
});
