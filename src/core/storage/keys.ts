import { utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';

/**
 * The storage key hierarchy. The user's storage root key is an HKDF key (non-extractable
 * WebCrypto); every file version gets a fresh random 128-bit file id, and from (root, file id)
 * HKDF-SHA-256 derives two AES-256-GCM keys under separate labels: one for the content chunks,
 * one for the file's name and metadata. A storage peer sees neither the keys nor the root, and
 * one leaked file key opens only that file version.
 */

export const FILE_ID_BYTES = 16;
export const ROOT_KEY_BYTES = 32;

/** HKDF `info` labels; the file id is the HKDF salt. */
export const CONTENT_KEY_INFO = 'wos/storage/v1/content';
export const META_KEY_INFO = 'wos/storage/v1/meta';

export interface FileKeys {
  /** Random, 16 bytes, new for every file version (never reused: see cipher.ts on nonces). */
  readonly fileId: Uint8Array;
  /** AES-256-GCM key for the content chunks. */
  readonly content: CryptoKey;
  /** AES-256-GCM key for the name and metadata. */
  readonly meta: CryptoKey;
}

/** What sealing a file's content needs (a coder worker gets these, never the metadata key). */
export type ContentKeys = Pick<FileKeys, 'fileId' | 'content'>;

/** Imports 32 secret bytes as the storage root key: HKDF, non-extractable, derive-only. */
export async function importStorageRootKey(
  subtle: SubtleCrypto,
  raw: Uint8Array,
): Promise<CryptoKey> {
  if (!(raw instanceof Uint8Array) || raw.length !== ROOT_KEY_BYTES) {
    throw new ArgumentError(`a storage root key is ${ROOT_KEY_BYTES} bytes`);
  }
  return subtle.importKey('raw', raw as BufferSource, 'HKDF', false, ['deriveKey', 'deriveBits']);
}

/** A new random storage root key (the raw bytes are not kept). */
export function generateStorageRootKey(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
): Promise<CryptoKey> {
  return importStorageRootKey(subtle, random(ROOT_KEY_BYTES));
}

/** A fresh file id: mint one for every put, including a retried put of a changed source. */
export function newFileId(random: (n: number) => Uint8Array): Uint8Array {
  const id = random(FILE_ID_BYTES);
  if (id.length !== FILE_ID_BYTES) throw new ArgumentError('random() returned the wrong length');
  return id;
}

export function checkFileId(fileId: Uint8Array): void {
  if (!(fileId instanceof Uint8Array) || fileId.length !== FILE_ID_BYTES) {
    throw new ArgumentError(`a file id is ${FILE_ID_BYTES} bytes`);
  }
}

function deriveAesKey(
  subtle: SubtleCrypto,
  root: CryptoKey,
  fileId: Uint8Array,
  info: string,
  extractable: boolean,
): Promise<CryptoKey> {
  return subtle.deriveKey(
    {
      name: 'HKDF',
      hash: 'SHA-256',
      salt: fileId as BufferSource,
      info: utf8(info) as BufferSource,
    },
    root,
    { name: 'AES-GCM', length: 256 },
    extractable,
    ['encrypt', 'decrypt'],
  );
}

/**
 * The keys of one file version. `extractable` only for sharing, where the content and meta
 * keys (never the root) go into a link's fragment.
 */
export async function deriveFileKeys(
  subtle: SubtleCrypto,
  root: CryptoKey,
  fileId: Uint8Array,
  opts: { extractable?: boolean } = {},
): Promise<FileKeys> {
  checkFileId(fileId);
  const x = opts.extractable ?? false;
  const [content, meta] = await Promise.all([
    deriveAesKey(subtle, root, fileId, CONTENT_KEY_INFO, x),
    deriveAesKey(subtle, root, fileId, META_KEY_INFO, x),
  ]);
  return { fileId: fileId.slice(), content, meta };
}
