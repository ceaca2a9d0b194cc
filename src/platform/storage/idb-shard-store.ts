import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction } from 'idb';
import { toBase64Url } from '../../core/bytes.ts';
import { QuotaFullError } from '../../core/storage/service-errors.ts';
import {
  shardKeyString,
  type FileEntry,
  type ShardInfo,
  type ShardKey,
  type ShardStore,
} from '../../core/storage/shard-store.ts';

/**
 * The browser's ShardStore: one IndexedDB database per mesh (`wos-shards-<mesh id prefix>`),
 * shared by every tab of this browser profile in that mesh (so they serve the same store id).
 *
 * - `shards`: shard bytes by "file/stripe/index" (kept apart from `info` so listing never
 *   loads bytes);
 * - `info`: ShardInfo by the same key, indexed by file;
 * - `files`: FileEntry by file id (owner, manifest, tombstone);
 * - `meta`: the store id and the usage counter.
 *
 * Quota: `put` reads the usage counter and the replaced shard's size and writes the shard, its
 * info and the new counter in one readwrite transaction, or aborts it (QUOTA_FULL): a full
 * quota never leaves part of a shard behind, also with several tabs writing at once.
 */
interface ShardDb extends DBSchema {
  shards: { key: string; value: Uint8Array };
  info: { key: string; value: ShardInfo; indexes: { file: string } };
  files: { key: string; value: FileEntry };
  meta: { key: string; value: string | number };
}

const VERSION = 1;
const WRITE_SCOPE: ['shards', 'info', 'meta', 'files'] = ['shards', 'info', 'meta', 'files'];
type WriteTx = IDBPTransaction<ShardDb, typeof WRITE_SCOPE, 'readwrite'>;

export function shardDbName(meshId: string): string {
  return `wos-shards-${meshId.slice(0, 32)}`;
}

/** Bytes whose buffer is exactly the bytes: IndexedDB would otherwise clone the whole buffer. */
function exact(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

export class IdbShardStore implements ShardStore {
  readonly id: string;
  quotaBytes: number;
  readonly #db: IDBPDatabase<ShardDb>;

  private constructor(db: IDBPDatabase<ShardDb>, id: string, quotaBytes: number) {
    this.#db = db;
    this.id = id;
    this.quotaBytes = quotaBytes;
  }

  /** Opens (or creates) the mesh's store; `quotaBytes` is the user's donation, changeable later. */
  static async open(meshId: string, quotaBytes: number): Promise<IdbShardStore> {
    const db = await openDB<ShardDb>(shardDbName(meshId), VERSION, {
      upgrade(d) {
        d.createObjectStore('shards');
        d.createObjectStore('info').createIndex('file', 'file');
        d.createObjectStore('files', { keyPath: 'file' });
        d.createObjectStore('meta');
      },
      blocking() {
        // A newer version opened in another tab: step aside so it can upgrade.
        db.close();
      },
    });
    const tx = db.transaction('meta', 'readwrite');
    let id = await tx.store.get('id');
    if (typeof id !== 'string') {
      id = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
      await tx.store.put(id, 'id');
    }
    await tx.done;
    return new IdbShardStore(db, id, quotaBytes);
  }

  async usage(): Promise<number> {
    return Number((await this.#db.get('meta', 'usage')) ?? 0);
  }

  async put(info: ShardInfo, bytes: Uint8Array): Promise<void> {
    const k = shardKeyString(info);
    const tx = this.#db.transaction(['shards', 'info', 'meta'], 'readwrite');
    const [old, used] = await Promise.all([
      tx.objectStore('info').get(k),
      tx.objectStore('meta').get('usage'),
    ]);
    const before = Number(used ?? 0);
    const next = before - (old?.size ?? 0) + bytes.length;
    if (next > this.quotaBytes) {
      tx.abort();
      await tx.done.catch(() => {});
      throw QuotaFullError.forShard(bytes.length, before, this.quotaBytes);
    }
    await Promise.all([
      tx.objectStore('shards').put(exact(bytes), k),
      tx.objectStore('info').put({ ...info, size: bytes.length }, k),
      tx.objectStore('meta').put(next, 'usage'),
      tx.done,
    ]);
  }

  async get(key: ShardKey): Promise<Uint8Array | undefined> {
    return this.#db.get('shards', shardKeyString(key));
  }

  async delete(key: ShardKey): Promise<boolean> {
    const tx = this.#db.transaction(WRITE_SCOPE, 'readwrite');
    const removed = await this.#remove(tx, [shardKeyString(key)]);
    await tx.done;
    return removed > 0;
  }

  async list(file: string): Promise<ShardInfo[]> {
    return this.#db.getAllFromIndex('info', 'file', file);
  }

  async getFile(file: string): Promise<FileEntry | undefined> {
    return this.#db.get('files', file);
  }

  async putFile(entry: FileEntry): Promise<void> {
    await this.#db.put('files', entry);
  }

  async deleteFile(file: string): Promise<void> {
    const tx = this.#db.transaction(WRITE_SCOPE, 'readwrite');
    const infos = await tx.objectStore('info').index('file').getAll(file);
    await this.#remove(tx, infos.map(shardKeyString));
    await tx.objectStore('files').delete(file);
    await tx.done;
  }

  async files(): Promise<FileEntry[]> {
    return this.#db.getAll('files');
  }

  close(): void {
    this.#db.close();
  }

  /** Removes shards (bytes and info) and lowers the usage counter, inside `tx`; returns how many. */
  async #remove(tx: WriteTx, keys: string[]): Promise<number> {
    const info = tx.objectStore('info');
    let freed = 0;
    let removed = 0;
    for (const k of keys) {
      const i = await info.get(k);
      if (!i) continue;
      freed += i.size;
      removed++;
      await Promise.all([info.delete(k), tx.objectStore('shards').delete(k)]);
    }
    if (removed > 0) {
      const meta = tx.objectStore('meta');
      const used = Number((await meta.get('usage')) ?? 0);
      await meta.put(Math.max(0, used - freed), 'usage');
    }
    return removed;
  }
}
