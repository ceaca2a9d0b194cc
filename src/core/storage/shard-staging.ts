import { ArgumentError, WosError } from '../errors.ts';
import { shardKeyString, type ShardKey } from './shard-store.ts';

/**
 * Shards travel in pieces that each fit one data-channel frame (no bus message is ever split:
 * small messages such as heartbeats then never wait behind, or interleave with, a multi-MiB
 * message). A holder assembles the pieces of a shard here, in memory and bounded, until the
 * shard is complete; only then is it hashed and stored. Pieces may arrive in any order and
 * twice; a shard not completed within `idleMs` is dropped.
 */
export interface StagingOptions {
  /** Bytes of incomplete shards held at most; more uploads are refused with BUSY. */
  maxBytes: number;
  idleMs: number;
}

interface Staged {
  hash: string;
  buf: Uint8Array;
  got: number;
  seen: Set<number>;
  touched: number;
}

export class ShardStaging {
  readonly #opts: StagingOptions;
  readonly #now: () => number;
  readonly #staged = new Map<string, Staged>();
  #bytes = 0;

  constructor(now: () => number, opts: StagingOptions) {
    this.#now = now;
    this.#opts = opts;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Adds the piece at `at` of a `size`-byte shard with `hash`; returns the whole shard when this
   * piece completes it (and forgets it), else undefined. A different size or hash for the same
   * key starts the shard over (a new upload replaces an abandoned one).
   */
  add(
    key: ShardKey,
    size: number,
    hash: string,
    at: number,
    piece: Uint8Array,
  ): Uint8Array | undefined {
    if (piece.length === 0 || at + piece.length > size) {
      throw new ArgumentError(
        `piece [${at}, ${at + piece.length}) does not fit a ${size}-byte shard`,
      );
    }
    this.expire();
    const k = shardKeyString(key);
    let s = this.#staged.get(k);
    if (s && (s.buf.length !== size || s.hash !== hash)) {
      this.#drop(k);
      s = undefined;
    }
    if (!s) {
      if (piece.length === size) return piece;
      if (this.#bytes + size > this.#opts.maxBytes) {
        throw new WosError(
          'BUSY',
          'the holder is receiving too many shards at once; retry shortly',
        );
      }
      s = { hash, buf: new Uint8Array(size), got: 0, seen: new Set(), touched: this.#now() };
      this.#staged.set(k, s);
      this.#bytes += size;
    }
    s.touched = this.#now();
    if (!s.seen.has(at)) {
      s.seen.add(at);
      s.buf.set(piece, at);
      s.got += piece.length;
    }
    if (s.got < size) return undefined;
    this.#drop(k);
    return s.buf;
  }

  /** Drops shards idle for longer than `idleMs`. */
  expire(): void {
    const now = this.#now();
    for (const [k, s] of this.#staged) if (now - s.touched > this.#opts.idleMs) this.#drop(k);
  }

  #drop(k: string): void {
    const s = this.#staged.get(k);
    if (!s) return;
    this.#staged.delete(k);
    this.#bytes -= s.buf.length;
  }
}
