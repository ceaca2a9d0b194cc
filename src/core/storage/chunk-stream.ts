import { ArgumentError } from '../errors.ts';
import { sealChunk, tryOpenChunk } from './cipher.ts';
import { type FileKeys } from './keys.ts';
import { ChunkOutOfOrderError, TruncatedError, WrongKeyOrCorruptError } from './storage-errors.ts';

/**
 * A file's content as a sequence of sealed chunks (cipher.ts): the sealer numbers them and flags
 * the final one; the opener checks that they come in order and that the final one arrives.
 * When a chunk does not open where it is expected, nearby positions are tried (only on that
 * failure path) to tell a reordered chunk (CHUNK_OUT_OF_ORDER) and a cut stream (TRUNCATED)
 * from a wrong key or altered bytes (WRONG_KEY_OR_CORRUPT).
 */

/** How far from the expected position a failed chunk is looked for (each try is one AES-GCM). */
export const DEFAULT_SEARCH_WINDOW = 8;

/** Seals chunks 0, 1, 2, … in order; `last` seals the final one and closes the sealer. */
export class ChunkSealer {
  readonly #subtle: SubtleCrypto;
  readonly #keys: FileKeys;
  #next = 0;
  #done = false;

  constructor(subtle: SubtleCrypto, keys: FileKeys) {
    this.#subtle = subtle;
    this.#keys = keys;
  }

  get chunks(): number {
    return this.#next;
  }

  async seal(plaintext: Uint8Array, last: boolean): Promise<Uint8Array> {
    if (this.#done) throw new ArgumentError('the final chunk was already sealed');
    const index = this.#next++;
    if (last) this.#done = true;
    return sealChunk(this.#subtle, this.#keys, index, plaintext, last);
  }
}

/**
 * Opens chunk `index`, which the reader expects to be the file's final chunk iff `last` (from
 * the chunk count in the signed manifest). Any mismatch throws the error that explains it.
 */
export async function openChunk(
  subtle: SubtleCrypto,
  keys: FileKeys,
  index: number,
  sealed: Uint8Array,
  last: boolean,
  opts: { count?: number; window?: number } = {},
): Promise<Uint8Array> {
  const plain = await tryOpenChunk(subtle, keys, index, sealed, last);
  if (plain) return plain;
  if (await tryOpenChunk(subtle, keys, index, sealed, !last)) {
    if (last) {
      throw new TruncatedError(`chunk ${index} should be the final chunk, but more were sealed`);
    }
    throw new ChunkOutOfOrderError(index, index, 'is the final chunk, yet more chunks follow');
  }
  throw await misplaced(subtle, keys, index, sealed, opts.count, opts.window);
}

/** The error for a chunk that opens at neither flag at its own position. */
async function misplaced(
  subtle: SubtleCrypto,
  keys: FileKeys,
  index: number,
  sealed: Uint8Array,
  count: number | undefined,
  window = DEFAULT_SEARCH_WINDOW,
): Promise<Error> {
  const hi = count === undefined ? index + window : Math.min(count - 1, index + window);
  for (let d = 1; d <= window; d++) {
    for (const j of [index - d, index + d]) {
      if (j < 0 || j > hi) continue;
      for (const last of [false, true]) {
        if (await tryOpenChunk(subtle, keys, j, sealed, last)) {
          return new ChunkOutOfOrderError(index, j, `holds chunk ${j}`);
        }
      }
    }
  }
  return new WrongKeyOrCorruptError(`chunk ${index}`);
}

/**
 * Opens a stream of sealed chunks in order. With `count` (from the manifest) each chunk's final
 * flag is known; without it the final chunk is recognised by its flag. `finish()` throws
 * TRUNCATED unless the final chunk was opened.
 */
export class ChunkOpener {
  readonly #subtle: SubtleCrypto;
  readonly #keys: FileKeys;
  readonly #count: number | undefined;
  readonly #window: number;
  #next = 0;
  #done = false;

  constructor(
    subtle: SubtleCrypto,
    keys: FileKeys,
    opts: { count?: number; window?: number } = {},
  ) {
    if (opts.count !== undefined && (!Number.isSafeInteger(opts.count) || opts.count < 1)) {
      throw new ArgumentError(`chunk count must be an integer ≥ 1, got ${opts.count}`);
    }
    this.#subtle = subtle;
    this.#keys = keys;
    this.#count = opts.count;
    this.#window = opts.window ?? DEFAULT_SEARCH_WINDOW;
  }

  /** Chunks opened so far. */
  get opened(): number {
    return this.#next;
  }

  get done(): boolean {
    return this.#done;
  }

  async open(sealed: Uint8Array): Promise<{ plaintext: Uint8Array; last: boolean }> {
    const index = this.#next;
    if (this.#done) {
      const j = await this.#whichChunk(sealed);
      throw new ChunkOutOfOrderError(
        index,
        j,
        j === undefined ? 'data follows the final chunk' : `chunk ${j} follows the final chunk`,
      );
    }
    const opts = {
      window: this.#window,
      ...(this.#count === undefined ? {} : { count: this.#count }),
    };
    let plaintext: Uint8Array;
    let last: boolean;
    if (this.#count !== undefined) {
      last = index === this.#count - 1;
      plaintext = await openChunk(this.#subtle, this.#keys, index, sealed, last, opts);
    } else {
      const middle = await tryOpenChunk(this.#subtle, this.#keys, index, sealed, false);
      last = middle === undefined;
      plaintext = middle ?? (await openChunk(this.#subtle, this.#keys, index, sealed, true, opts));
    }
    this.#next++;
    this.#done = last;
    return { plaintext, last };
  }

  /** Call at the end of the input: throws TRUNCATED if the final chunk never came. */
  finish(): void {
    if (!this.#done) {
      const of = this.#count === undefined ? '' : ` of ${this.#count}`;
      throw new TruncatedError(
        `the input ended after ${this.#next}${of} chunks, before the final one`,
      );
    }
  }

  async #whichChunk(sealed: Uint8Array): Promise<number | undefined> {
    const from = Math.max(0, this.#next - 1 - this.#window);
    for (let j = this.#next - 1; j >= from; j--) {
      for (const last of [false, true]) {
        if (await tryOpenChunk(this.#subtle, this.#keys, j, sealed, last)) return j;
      }
    }
    return undefined;
  }
}
