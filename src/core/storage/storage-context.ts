import type { Bus } from '../bus.ts';
import type { Clock } from '../clock.ts';
import type { FileCache } from './file-cache.ts';
import type { HolderDirectory } from './holder-directory.ts';
import type { StorageKeyRing } from './key-ring.ts';
import type { ContentKeys } from './keys.ts';
import type { OwnerSigner, VerifyFn } from './owner.ts';
import { MAX_PIECE_BYTES } from './storage-protocol.ts';

/**
 * What the client side of storage (upload, download, audit, repair) works with: injected
 * components and options, shared by the pipelines so each stays one concept.
 */

/**
 * The erasure coder as the pipelines use it: `ErasureCoder` (erasure.ts) in-thread, or the same
 * calls proxied to a worker (results may then be promises).
 */
export interface StripeCoder {
  encode(data: readonly Uint8Array[], m: number): Uint8Array[] | Promise<Uint8Array[]>;
  /**
   * Optional: like `encode`, but takes the data shards (a worker coder moves their buffers
   * instead of copying them) and returns all n shards, data first. `data` must not be used
   * afterwards, whether the call succeeds or not.
   */
  encodeOwned?(data: Uint8Array[], m: number): Promise<Uint8Array[]>;
  /**
   * Optional: cuts a stripe's plaintext into k pieces (`splitStripe`), seals them as content
   * chunks `first`, `first + 1`, … (the last one final if `lastStripe`, as `sealPieces`), codes
   * them and, with `digests`, hashes all n shards (SHA-256) where it coded them. A worker coder
   * so takes AES-GCM, hashing and every copy off the caller's thread, spread over its workers
   * (Chromium runs WebCrypto on the calling thread).
   * `stripe` must not be used afterwards (its buffer may move); `keys` holds the content key
   * only, never the metadata key.
   */
  sealEncode?(
    keys: ContentKeys,
    first: number,
    stripe: Uint8Array,
    k: number,
    lastStripe: boolean,
    m: number,
    digests: boolean,
  ): Promise<{ shards: Uint8Array[]; digests?: Uint8Array[] }>;
  reconstruct(
    shards: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
  ): Uint8Array[] | Promise<Uint8Array[]>;
}

export interface ClientOptions {
  /** Plaintext bytes per stripe (the unit read, sealed, coded and placed at a time). */
  stripeBytes: number;
  /** Stripes being sealed, coded and uploaded at once while the next one is read. */
  inflightStripes: number;
  /** Stripes fetched ahead of the reader. */
  readAhead: number;
  /** Timeout for moving one piece of a shard, ms. */
  shardTimeoutMs: number;
  /** Shards move in pieces of this many bytes (≤ MAX_PIECE_BYTES: one data-channel frame). */
  pieceBytes: number;
  /**
   * Pieces of one shard in flight at once. An upload instead lets each store have
   * `piecesInFlight × inflightStripes` in flight, earliest stripe first (piece-lanes.ts).
   */
  piecesInFlight: number;
  /** Timeout for small requests (manifests, audits, info), ms. */
  requestTimeoutMs: number;
  /** Widest default code (n). */
  maxShards: number;
  /** During a long upload, holders are told this often that its shards are not orphans. */
  holdEveryMs: number;
}

export const defaultClientOptions: ClientOptions = {
  stripeBytes: 4 * 1024 * 1024,
  inflightStripes: 2,
  readAhead: 2,
  shardTimeoutMs: 30_000,
  pieceBytes: MAX_PIECE_BYTES,
  piecesInFlight: 4,
  requestTimeoutMs: 5000,
  maxShards: 12,
  holdEveryMs: 5 * 60_000,
};

export interface StorageContext {
  readonly bus: Bus;
  readonly clock: Clock;
  readonly subtle: SubtleCrypto;
  readonly random: (n: number) => Uint8Array;
  readonly coder: StripeCoder;
  /**
   * The user's storage root keys, one per epoch held (HKDF, non-extractable): a file's keys
   * derive from the root of the epoch it was written under, new files use `current`. Replaced
   * as a whole when the device learns a key (`StorageClient.setKeyRing`).
   */
  keyRing: StorageKeyRing;
  readonly owner: OwnerSigner;
  /** `owner.publicKey` in base64url. */
  readonly ownerKey: string;
  readonly verify: VerifyFn;
  readonly dir: HolderDirectory;
  /** Live members other than this node. */
  readonly peers: () => string[];
  readonly opts: ClientOptions;
  /** Recently read files, kept locally (no cache if absent). */
  readonly cache?: FileCache;
  /** Told about every shard found corrupt or missing while reading (repair can use it). */
  onBadShard?: (file: string, stripe: number, index: number, store: string) => void;
}
