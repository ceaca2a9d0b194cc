import { toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { QuotaFullError } from './service-errors.ts';
import {
  shardKeyString,
  type FileEntry,
  type ShardInfo,
  type ShardKey,
  type ShardStore,
} from './shard-store.ts';

/**
 * A Map-backed ShardStore for tests and headless agents. Survives its node: give the same
 * instance to a new node to model a tab that reloads with its IndexedDB intact.
 */
export class MemoryShardStore implements ShardStore {
  readonly id: string;
  quotaBytes: number;
  readonly #shards = new Map<string, { info: ShardInfo; bytes: Uint8Array }>();
  readonly #files = new Map<string, FileEntry>();
  #usage = 0;

  constructor(quotaBytes: number, id?: string, random?: (n: number) => Uint8Array) {
    if (!(quotaBytes >= 0)) throw new ArgumentError(`quota must be ≥ 0 bytes, got ${quotaBytes}`);
    this.quotaBytes = quotaBytes;
    const rnd = random ?? ((n: number) => globalThis.crypto.getRandomValues(new Uint8Array(n)));
    this.id = id ?? toBase64Url(rnd(16));
  }

  async usage(): Promise<number> {
    return this.#usage;
  }

  async put(info: ShardInfo, bytes: Uint8Array): Promise<void> {
    const key = shardKeyString(info);
    const old = this.#shards.get(key)?.bytes.length ?? 0;
    const next = this.#usage - old + bytes.length;
    if (next > this.quotaBytes)
      throw QuotaFullError.forShard(bytes.length, this.#usage, this.quotaBytes);
    this.#shards.set(key, { info: { ...info, size: bytes.length }, bytes: bytes.slice() });
    this.#usage = next;
  }

  async get(key: ShardKey): Promise<Uint8Array | undefined> {
    return this.#shards.get(shardKeyString(key))?.bytes.slice();
  }

  async delete(key: ShardKey): Promise<boolean> {
    const k = shardKeyString(key);
    const s = this.#shards.get(k);
    if (!s) return false;
    this.#shards.delete(k);
    this.#usage -= s.bytes.length;
    return true;
  }

  async list(file: string): Promise<ShardInfo[]> {
    return [...this.#shards.values()].filter((s) => s.info.file === file).map((s) => s.info);
  }

  async getFile(file: string): Promise<FileEntry | undefined> {
    const e = this.#files.get(file);
    return e && structuredClone(e);
  }

  async putFile(entry: FileEntry): Promise<void> {
    this.#files.set(entry.file, structuredClone(entry));
  }

  async deleteFile(file: string): Promise<void> {
    for (const s of await this.list(file)) await this.delete(s);
    this.#files.delete(file);
  }

  async files(): Promise<FileEntry[]> {
    return [...this.#files.values()].map((e) => structuredClone(e));
  }

  close(): void {}

  // Test hooks: look at and tamper with what a holder really keeps.

  /** The stored bytes themselves (not a copy): alter them to simulate corruption on disk. */
  raw(key: ShardKey): Uint8Array | undefined {
    return this.#shards.get(shardKeyString(key))?.bytes;
  }

  /** Every shard's info. */
  shards(): ShardInfo[] {
    return [...this.#shards.values()].map((s) => s.info);
  }

  /** Everything a peer could read from this store: shard bytes and file entries as bytes. */
  *contents(): Generator<Uint8Array> {
    for (const s of this.#shards.values()) yield s.bytes;
    const enc = new TextEncoder();
    for (const e of this.#files.values()) yield enc.encode(JSON.stringify(e));
  }
}
