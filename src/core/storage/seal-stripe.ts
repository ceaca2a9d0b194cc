import { openChunk } from './chunk-stream.ts';
import { sealChunk } from './cipher.ts';
import type { ContentKeys, FileKeys } from './keys.ts';
import type { StripeCoder } from './storage-context.ts';
import { splitStripe } from './stripe.ts';

/**
 * A stripe's pieces sealed as chunks `first`, `first + 1`, …; `lastStripe`: its last piece is
 * the file's last chunk (the final flag in its associated data). The uploader's sealing, also
 * what the write-path benchmarks run.
 */
export function sealPieces(
  subtle: SubtleCrypto,
  keys: ContentKeys,
  first: number,
  pieces: readonly Uint8Array[],
  lastStripe: boolean,
): Promise<Uint8Array[]> {
  const last = (i: number): boolean => lastStripe && i === pieces.length - 1;
  return Promise.all(pieces.map((p, i) => sealChunk(subtle, keys, first + i, p, last(i))));
}

/** Opens sealed chunks `first`, `first + 1`, … of a file of `count` chunks. */
export function openPieces(
  subtle: SubtleCrypto,
  keys: FileKeys,
  first: number,
  sealed: readonly Uint8Array[],
  count: number,
): Promise<Uint8Array[]> {
  return Promise.all(
    sealed.map((c, i) => openChunk(subtle, keys, first + i, c, first + i === count - 1, { count })),
  );
}

/** A stripe's n shards (data first) and, where the coder hashed them, their SHA-256. */
export interface CodedStripe {
  shards: Uint8Array[];
  digests?: Uint8Array[];
}

/**
 * Cuts a stripe of plaintext into k pieces (chunks `first`, `first + 1`, …), seals them and codes
 * them into n = k + m shards, by the best route the coder offers; with `digests` (the
 * uploader), a coder that can also hashes the n shards. Resolves once the stripe is at the
 * coder, with the promise of its shards (and digests, where the coder hashed them; else the
 * caller hashes), so the caller can read the next stripe meanwhile.
 * `stripe` must not be used afterwards (a worker coder takes its buffer).
 *
 * - A coder that seals too (`sealEncode`, the worker coder) gets the plaintext stripe: the page
 *   only hands it over; cutting, sealing, coding and hashing spread over the coder's workers.
 * - Otherwise the pieces are sealed here (views, no copy), then coded.
 */
export async function handStripeToCoder(
  coder: StripeCoder,
  subtle: SubtleCrypto,
  keys: ContentKeys,
  first: number,
  stripe: Uint8Array,
  k: number,
  lastStripe: boolean,
  m: number,
  digests = true,
): Promise<{ coded: Promise<CodedStripe> }> {
  if (coder.sealEncode) {
    return { coded: coder.sealEncode(keys, first, stripe, k, lastStripe, m, digests) };
  }
  const sealed = await sealPieces(subtle, keys, first, splitStripe(stripe, k), lastStripe);
  const coded: Promise<CodedStripe> = coder.encodeOwned
    ? coder.encodeOwned(sealed, m).then((shards) => ({ shards }))
    : Promise.resolve(coder.encode(sealed, m)).then((p) => ({ shards: [...sealed, ...p] }));
  return { coded };
}
