import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromBase64Url, toBase64Url, toHex, utf8 } from '../../src/core/bytes.ts';
import { ShareLinkError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  decodeShareLink,
  encodeShareLink,
  shareCodeOf,
  shareOwnerHash,
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
/** The account key of SECRET: the Ed25519 key that signs the vector file's manifests. */
const OWNER = 'SNM1saI40W8zlei1gJGdG9bBhCIbIVgNs3feXk35K6U';
const LINK =
  'AgGgoaKjpKWmp6ipqqusra6vBwcHBwcHBwct8_nQLDQI4ewOR6fCb5a6bfRiBlnkkyTIQ1DZchwIv_vGLcgAyXlkv51X56tk' +
  '7I_gAgD7aktnsjO6biwp-lA7UxE89GMcTJgFs-3uKoz7-WtJ0gDtOHypJZ_4DA';
/** The same file, share id and expiry as a version 1 link (before links named the owner). */
const LINK_V1 =
  'AQGgoaKjpKWmp6ipqqusra6vBwcHBwcHBwct8_nQLDQI4ewOR6fCb5a6bfRiBlnkkyTIQ1DZchwIv_vGLcgAyXlkv51X56tk' +
  '7I_gAgD7aktnsjO6biwp-lA7a0nSAAZt7y18hYXH';

async function fileKeys(): Promise<FileKeys> {
  const account = await deriveAccountKeys(subtle, SECRET);
  expect(toBase64Url(account.publicKey)).toBe(OWNER);
  return deriveFileKeys(subtle, account.storageRootEpoch0, FILE_ID, { extractable: true });
}

const ownerHashOf = (key: Uint8Array): Uint8Array =>
  new Uint8Array(
    crypto
      .createHash('sha256')
      .update(concatBytes(utf8('wos/v2/share-owner|'), key))
      .digest()
      .subarray(0, 16),
  );

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
  it('encode the fixed v2 vector: layout, owner hash and check as documented', async () => {
    const keys = await fileKeys();
    const code = await encodeShareLink(subtle, {
      keys,
      owner: OWNER,
      shareId: SHARE_ID,
      expiresAt: EXPIRES + 999,
    });
    expect(code).toBe(LINK);
    expect(code).toHaveLength(158);
    const b = fromBase64Url(code);
    const content = new Uint8Array(await subtle.exportKey('raw', keys.content));
    const meta = new Uint8Array(await subtle.exportKey('raw', keys.meta));
    const owner = ownerHashOf(fromBase64Url(OWNER));
    expect(toHex(await shareOwnerHash(subtle, OWNER))).toBe(toHex(owner));
    const body = concatBytes(
      Uint8Array.of(2, 1),
      FILE_ID,
      SHARE_ID,
      content,
      meta,
      owner,
      Uint8Array.of(0x6b, 0x49, 0xd2, 0x00),
    );
    expect(toHex(b.subarray(0, 110))).toBe(toHex(body));
    const macKey = hkdf(concatBytes(content, meta), 'wos/v2/share-mac', new Uint8Array(0));
    const mac = crypto.createHmac('sha256', macKey).update(body).digest().subarray(0, 8);
    expect(toHex(b.subarray(110))).toBe(toHex(mac));
  });

  it('still read a version 1 link (no owner: documented as weaker), with v1 MAC and layout', async () => {
    const keys = await fileKeys();
    const old = await decodeShareLink(subtle, `https://wos.example/#/s/${LINK_V1}`, EXPIRES - 1);
    expect(old).toMatchObject({ version: 1, owner: undefined, expiresAt: EXPIRES });
    expect(old.meshKey).toBe(await shareRendezvousKey(subtle, keys, SHARE_ID));
    const b = fromBase64Url(LINK_V1);
    const content = new Uint8Array(await subtle.exportKey('raw', keys.content));
    const meta = new Uint8Array(await subtle.exportKey('raw', keys.meta));
    const macKey = hkdf(concatBytes(content, meta), 'wos/v1/share-mac', new Uint8Array(0));
    const mac = crypto.createHmac('sha256', macKey).update(b.subarray(0, 94)).digest();
    expect(toHex(b.subarray(94))).toBe(toHex(mac.subarray(0, 8)));
    for (let n = 0; n < LINK_V1.length; n++) {
      expect([n, await codeOf(decodeShareLink(subtle, LINK_V1.slice(0, n)))]).toEqual([
        n,
        'SHARE_LINK_TRUNCATED',
      ]);
    }
    const t = b.slice();
    t[40]! ^= 4;
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(t)))).toBe('SHARE_LINK_TAMPERED');
    // A v1 link relabelled v2 lacks the owner field; a v2 link relabelled v1 has 16 bytes extra.
    const up = b.slice();
    up[0] = 2;
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(up)))).toBe('SHARE_LINK_TRUNCATED');
    const down = fromBase64Url(LINK);
    down[0] = 1;
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(down)))).toBe('SHARE_LINK_MALFORMED');
  });

  it('round-trips; the reader gets working keys and the owner the same rendezvous mesh', async () => {
    const keys = await fileKeys();
    const link = await decodeShareLink(subtle, `https://wos.example/#/s/${LINK}`, EXPIRES - 1);
    expect(link.version).toBe(2);
    expect(toHex(link.owner!)).toBe(toHex(ownerHashOf(fromBase64Url(OWNER))));
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
    // Without expiry: 152 characters; with a shared mesh key: 195, both: 200 (v1: 131/174/179).
    const meshKey = toBase64Url(new Uint8Array(32).fill(9));
    const owner = OWNER;
    const plain = await encodeShareLink(subtle, { keys, owner, shareId: SHARE_ID });
    const viaMesh = await encodeShareLink(subtle, { keys, owner, shareId: SHARE_ID, meshKey });
    const both = await encodeShareLink(subtle, {
      keys,
      owner,
      shareId: SHARE_ID,
      meshKey,
      expiresAt: EXPIRES,
    });
    expect([plain.length, viaMesh.length, both.length]).toEqual([152, 195, 200]);
    // A P-256 device key (65 bytes) gives the same length: the link holds a hash of it.
    const device = toBase64Url(Uint8Array.from({ length: 65 }, (_, i) => (i === 0 ? 4 : i)));
    const byDevice = await encodeShareLink(subtle, { keys, owner: device, shareId: SHARE_ID });
    expect(byDevice).toHaveLength(152);
    expect(toHex((await decodeShareLink(subtle, byDevice)).owner!)).toBe(
      toHex(ownerHashOf(fromBase64Url(device))),
    );
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
    for (const v of [0, 3, 255]) {
      const c = b.slice();
      c[0] = v;
      expect(await codeOf(decodeShareLink(subtle, toBase64Url(c)))).toBe('SHARE_LINK_VERSION');
      await expect(decodeShareLink(subtle, toBase64Url(c))).rejects.toThrow(/versions 1–2/);
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
    // Naming another owner without the file keys' check fails (bytes 90–105 are the owner).
    const other = concatBytes(b.subarray(0, 90), ownerHashOf(new Uint8Array(32)), b.subarray(106));
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(other)))).toBe('SHARE_LINK_TAMPERED');
    // Dropping the expiry (flag and bytes) without the file keys' check fails too.
    const noExpiry = concatBytes(Uint8Array.of(2, 0), b.subarray(2, 106), b.subarray(110));
    expect(await codeOf(decodeShareLink(subtle, toBase64Url(noExpiry)))).toBe(
      'SHARE_LINK_TAMPERED',
    );
  });

  it('refuses bad inputs when encoding', async () => {
    const keys = await fileKeys();
    const owner = OWNER;
    await expect(
      encodeShareLink(subtle, { keys, owner, shareId: new Uint8Array(7) }),
    ).rejects.toThrow(/8 bytes/);
    await expect(
      encodeShareLink(subtle, { keys, owner, shareId: SHARE_ID, meshKey: 'short' }),
    ).rejects.toThrow(/mesh key/);
    await expect(
      encodeShareLink(subtle, { keys, owner, shareId: SHARE_ID, expiresAt: 2 ** 32 * 1000 }),
    ).rejects.toThrow(/out of range/);
    for (const bad of ['', 'not base64!']) {
      await expect(
        encodeShareLink(subtle, { keys, owner: bad, shareId: SHARE_ID }),
      ).rejects.toThrow(/owner key/);
    }
    const sealedOnly = await deriveFileKeys(
      subtle,
      (await deriveAccountKeys(subtle, SECRET)).storageRootEpoch0,
      FILE_ID,
    );
    await expect(
      encodeShareLink(subtle, { keys: sealedOnly, owner: OWNER, shareId: SHARE_ID }),
    ).rejects.toThrow();
  });
});
