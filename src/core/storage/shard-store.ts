/**
 * What a holder keeps: ciphertext shards (counted against its quota) and, per file, a small
 * entry with the owner's public key, the latest signed manifest and, after a delete, the
 * owner's signed tombstone. Implementations: MemoryShardStore (tests, agent), IdbShardStore
 * (browser, src/platform/storage/idb-shard-store.ts). The same contract holds for both:
 *
 * - `put` is atomic: it stores the shard and updates the usage, or (over the quota) rejects
 *   with QUOTA_FULL and stores nothing. Replacing a shard counts only the difference.
 * - Bytes returned by `get` are the caller's (a copy, or fresh from storage).
 * - Usage counts shard bytes only; file entries are small and not counted.
 */

/** Where a shard belongs: file id (base64url), stripe number, shard index in the stripe. */
export interface ShardKey {
  readonly file: string;
  readonly stripe: number;
  readonly index: number;
}

export interface ShardInfo extends ShardKey {
  /** Bytes. */
  readonly size: number;
  /** SHA-256 of the bytes, base64url. */
  readonly hash: string;
  /** Clock time it was stored, ms. */
  readonly storedAt: number;
}

/** A manifest as signed by the owner: the exact JSON text and the signature over it. */
export interface SignedManifest {
  readonly m: string;
  readonly sig: string;
}

export interface FileEntry {
  readonly file: string;
  /** The owner's public key (base64url), bound by the first write; deletes must be signed by it. */
  readonly owner: string;
  /** Last shard put or lease renewal: orphans (no manifest) are collected a grace period after. */
  touchedAt: number;
  /** The owner's listing tag (from the manifest), so `list` can find the file and its tombstone. */
  tag?: string;
  /** `at`: when this store took it (absent in entries kept before stop 12). */
  manifest?: { rev: number; signed: SignedManifest; at?: number };
  /** The owner's signed delete, kept for a while so the file cannot come back. */
  deleted?: { sig: string; at: number };
}

export interface ShardStore {
  /** Random id of this store, kept with the data: a reloaded tab has a new node id, same store. */
  readonly id: string;
  /** Bytes of shards this store may hold (the user's donation). */
  quotaBytes: number;
  /** Bytes of shards held now. */
  usage(): Promise<number>;
  /** Stores a shard; rejects with QUOTA_FULL (storing nothing) if it does not fit. */
  put(info: ShardInfo, bytes: Uint8Array): Promise<void>;
  get(key: ShardKey): Promise<Uint8Array | undefined>;
  /** Removes a shard; true if it was there. */
  delete(key: ShardKey): Promise<boolean>;
  /** The shards held for a file. */
  list(file: string): Promise<ShardInfo[]>;
  getFile(file: string): Promise<FileEntry | undefined>;
  putFile(entry: FileEntry): Promise<void>;
  /** Removes a file's entry and all its shards. */
  deleteFile(file: string): Promise<void>;
  /** Every file entry. */
  files(): Promise<FileEntry[]>;
  close(): void;
}

export function shardKeyString(k: ShardKey): string {
  return `${k.file}/${k.stripe}/${k.index}`;
}

export function describeShard(k: ShardKey): string {
  return `shard ${k.index} of stripe ${k.stripe} of file ${k.file}`;
}
