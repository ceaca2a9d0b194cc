import type { SignedManifest } from './shard-store.ts';

/**
 * A local cache of recently read files, within a byte budget ("buffered local storage"). It
 * holds only what is already safe at rest on any holder: per stripe, the k sealed data shards
 * (ciphertext, checked against the manifest's hashes before use and opened with AES-GCM like any
 * fetched shard), and the file's owner-signed manifest (its private part is sealed). Never
 * plaintext, never keys. Implementations: MemoryFileCache (tests, memory-file-cache.ts) and
 * IdbFileCache (browser, src/platform/storage/idb-file-cache.ts). The same contract holds for
 * both:
 *
 * - Entries are per stripe, keyed by file id, manifest revision and stripe number; usage counts
 *   their bytes (and the manifests'), and `putStripe` evicts the least recently used stripes
 *   until the new one fits the budget (one larger than the whole budget is not kept). A read
 *   (`getStripe`) makes a stripe the most recently used.
 * - A file's manifest is kept while any of its stripes is: evicting the last one drops it.
 * - `invalidate(file, rev)` drops the entries of every other revision of `file` (a revision
 *   change), `invalidate(file)` all of them (a delete).
 * - Whatever the cache returns may be corrupt (the disk, another tab, a bug): readers verify it
 *   and `dropStripe` what fails, then read from the network (cached-read.ts).
 */
export interface StripeKey {
  readonly file: string;
  readonly rev: number;
  readonly stripe: number;
}

export interface CachedManifest {
  readonly rev: number;
  readonly signed: SignedManifest;
}

export interface FileCache {
  /** The budget, bytes. */
  readonly budgetBytes: number;
  /** Changes the budget; lowering it evicts at once. */
  setBudget(bytes: number): Promise<void>;
  /** Bytes held (stripes and manifests). */
  usage(): Promise<number>;
  /** The stripe's sealed data shards (and marks it most recently used), or undefined. */
  getStripe(key: StripeKey): Promise<Uint8Array[] | undefined>;
  /** Keeps a stripe's sealed data shards and the manifest they belong to (same revision). */
  putStripe(key: StripeKey, shards: readonly Uint8Array[], manifest: SignedManifest): Promise<void>;
  /** Drops one stripe (found corrupt). */
  dropStripe(key: StripeKey): Promise<void>;
  /** The cached manifest of `file`, if any stripe of it is cached. */
  getManifest(file: string): Promise<CachedManifest | undefined>;
  /** Drops every entry of `file` (of revisions other than `keepRev`, if given). */
  invalidate(file: string, keepRev?: number): Promise<void>;
  /** Per cached file: its revision and how many of its stripes are held. */
  contents(): Promise<Map<string, { rev: number; stripes: number }>>;
}

export const MiB = 1024 * 1024;
/** Default budget of the local cache. */
export const DEFAULT_CACHE_BYTES = 256 * MiB;

export function stripeKeyString(k: StripeKey): string {
  return `${k.file}/${k.rev}/${k.stripe}`;
}

export function shardBytes(shards: readonly Uint8Array[]): number {
  return shards.reduce((a, s) => a + s.length, 0);
}

export function manifestBytes(m: SignedManifest): number {
  return m.m.length + m.sig.length;
}

/** A budget as given by a user or a setting: a whole number of bytes ≥ 0. */
export function checkBudget(bytes: number): number {
  return Number.isFinite(bytes) && bytes > 0 ? Math.floor(bytes) : 0;
}
