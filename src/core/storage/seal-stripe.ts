import { openChunk } from './chunk-stream.ts';
import { sealChunk } from './cipher.ts';
import type { FileKeys } from './keys.ts';

/**
 * A stripe's pieces sealed as chunks `first`, `first + 1`, …; `lastStripe`: its last piece is
 * the file's last chunk (the final flag in its associated data). The uploader's sealing, also
 * what the write-path benchmarks run.
 */
export function sealPieces(
  subtle: SubtleCrypto,
  keys: FileKeys,
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
