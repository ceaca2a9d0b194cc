import { concatBytes, fromUtf8, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { checkFileId, type ContentKeys, type FileKeys } from './keys.ts';
import { WrongKeyOrCorruptError } from './storage-errors.ts';

/**
 * AES-256-GCM (WebCrypto) over a file's content chunks and its metadata.
 *
 * Content chunk i is sealed as ciphertext ‖ 16-byte tag, with
 *   nonce = 0x00000000 ‖ u64be(i)                          (96 bits, not stored)
 *   AAD   = file id (16) ‖ u64be(i) ‖ u8(1 if final chunk else 0)
 * Deterministic nonces are safe because a content key seals each chunk index at most once: the
 * key is derived from a random 128-bit file id that is new for every file version, and a
 * version is written once and never modified (a changed file is a new version with a new id,
 * hence a new key). The one way to break this is to seal different plaintext at the same index
 * under the same file id — e.g. retrying a put whose source changed — so the writer mints a
 * new file id for every put. Resealing identical bytes gives identical output and is harmless.
 * The index in the nonce and AAD makes a chunk moved to another position fail, and the final
 * flag makes a stream cut at a chunk boundary fail (see chunk-stream.ts).
 *
 * Metadata (the name, sizes, stripe layout) can be rewritten under the same file id (a rename),
 * so it takes a random 96-bit nonce, stored in front: nonce ‖ ciphertext ‖ tag, with
 * AAD = "wos/meta/v1|" ‖ purpose ‖ "|" ‖ file id, and the plaintext padded to a multiple of
 * 64 bytes so a name's exact length does not show.
 */

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Metadata plaintext is padded to a multiple of this many bytes. */
export const META_PAD = 64;

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new ArgumentError(`chunk index must be a safe integer ≥ 0, got ${index}`);
  }
}

function u64be(index: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, Math.floor(index / 2 ** 32));
  v.setUint32(4, index >>> 0);
  return out;
}

/** The 96-bit nonce of content chunk `index`. */
export function chunkNonce(index: number): Uint8Array {
  checkIndex(index);
  return concatBytes(new Uint8Array(4), u64be(index));
}

/** The associated data of content chunk `index` of file `fileId`. */
export function chunkAad(fileId: Uint8Array, index: number, last: boolean): Uint8Array {
  checkFileId(fileId);
  checkIndex(index);
  return concatBytes(fileId, u64be(index), Uint8Array.of(last ? 1 : 0));
}

/** Seals content chunk `index` (`last` for the file's final chunk, which may be empty). */
export async function sealChunk(
  subtle: SubtleCrypto,
  keys: ContentKeys,
  index: number,
  plaintext: Uint8Array,
  last: boolean,
): Promise<Uint8Array> {
  const params = {
    name: 'AES-GCM',
    iv: chunkNonce(index) as BufferSource,
    additionalData: chunkAad(keys.fileId, index, last) as BufferSource,
  };
  return new Uint8Array(await subtle.encrypt(params, keys.content, plaintext as BufferSource));
}

/** The plaintext if `sealed` is chunk `index` with that final flag, else undefined. */
export async function tryOpenChunk(
  subtle: SubtleCrypto,
  keys: FileKeys,
  index: number,
  sealed: Uint8Array,
  last: boolean,
): Promise<Uint8Array | undefined> {
  if (sealed.length < TAG_BYTES) return undefined;
  const params = {
    name: 'AES-GCM',
    iv: chunkNonce(index) as BufferSource,
    additionalData: chunkAad(keys.fileId, index, last) as BufferSource,
  };
  try {
    return new Uint8Array(await subtle.decrypt(params, keys.content, sealed as BufferSource));
  } catch {
    return undefined;
  }
}

function metaAad(fileId: Uint8Array, purpose: string): Uint8Array {
  checkFileId(fileId);
  return concatBytes(utf8(`wos/meta/v1|${purpose}|`), fileId);
}

/** Seals metadata bytes for one purpose (e.g. 'name', 'manifest'): nonce ‖ ciphertext ‖ tag. */
export async function sealMeta(
  subtle: SubtleCrypto,
  keys: FileKeys,
  random: (n: number) => Uint8Array,
  purpose: string,
  data: Uint8Array,
): Promise<Uint8Array> {
  const framed = new Uint8Array(Math.ceil((4 + data.length) / META_PAD) * META_PAD);
  new DataView(framed.buffer).setUint32(0, data.length);
  framed.set(data, 4);
  const iv = random(NONCE_BYTES);
  if (iv.length !== NONCE_BYTES) throw new ArgumentError('random() returned the wrong length');
  const params = {
    name: 'AES-GCM',
    iv: iv as BufferSource,
    additionalData: metaAad(keys.fileId, purpose) as BufferSource,
  };
  const ct = new Uint8Array(await subtle.encrypt(params, keys.meta, framed as BufferSource));
  return concatBytes(iv, ct);
}

/** Opens what `sealMeta` sealed for the same file and purpose; else WRONG_KEY_OR_CORRUPT. */
export async function openMeta(
  subtle: SubtleCrypto,
  keys: FileKeys,
  purpose: string,
  sealed: Uint8Array,
): Promise<Uint8Array> {
  const what = `the file's ${purpose}`;
  if (sealed.length < NONCE_BYTES + TAG_BYTES + META_PAD) throw new WrongKeyOrCorruptError(what);
  const params = {
    name: 'AES-GCM',
    iv: sealed.subarray(0, NONCE_BYTES) as BufferSource,
    additionalData: metaAad(keys.fileId, purpose) as BufferSource,
  };
  let framed: Uint8Array;
  try {
    const body = sealed.subarray(NONCE_BYTES) as BufferSource;
    framed = new Uint8Array(await subtle.decrypt(params, keys.meta, body));
  } catch {
    throw new WrongKeyOrCorruptError(what);
  }
  const len = new DataView(framed.buffer).getUint32(0);
  if (len > framed.length - 4) throw new WrongKeyOrCorruptError(what);
  return framed.slice(4, 4 + len);
}

/** Seals a file name (UTF-8, padded: peers learn neither the name nor its exact length). */
export function sealName(
  subtle: SubtleCrypto,
  keys: FileKeys,
  random: (n: number) => Uint8Array,
  name: string,
): Promise<Uint8Array> {
  return sealMeta(subtle, keys, random, 'name', utf8(name));
}

export async function openName(
  subtle: SubtleCrypto,
  keys: FileKeys,
  sealed: Uint8Array,
): Promise<string> {
  const bytes = await openMeta(subtle, keys, 'name', sealed);
  try {
    return fromUtf8(bytes);
  } catch {
    throw new WrongKeyOrCorruptError("the file's name");
  }
}
