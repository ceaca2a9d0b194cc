import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction } from 'idb';
import {
  checkBudget,
  DEFAULT_CACHE_BYTES,
  manifestBytes,
  shardBytes,
  stripeKeyString,
  type CachedManifest,
  type FileCache,
  type StripeKey,
} from '../../core/storage/file-cache.ts';
import type { SignedManifest } from '../../core/storage/shard-store.ts';

/**
 * The browser's FileCache: one IndexedDB database per mesh (`wos-cache-<mesh id prefix>`),
 * shared by the tabs of this browser profile (they share the storage key too).
 *
 * - `stripes`: a stripe's sealed data shards by "file/rev/stripe" (kept apart from `entries` so
 *   listing and eviction never load bytes);
 * - `entries`: per stripe its file, revision, size and last use, indexed by use and by file;
 * - `manifests`: the signed manifest per file (while any stripe of it is cached);
 * - `meta`: the usage counter.
 *
 * Every change (put with its evictions, drop, invalidate, a lower budget) is one readwrite
 * transaction over all four, so the counter stays exact with several tabs at once.
 */
interface Entry {
  key: string;
  file: string;
  rev: number;
  stripe: number;
  size: number;
  used: number;
}

interface ManifestRecord {
  file: string;
  rev: number;
  m: string;
  sig: string;
}

interface CacheDb extends DBSchema {
  stripes: { key: string; value: Uint8Array[] };
  entries: { key: string; value: Entry; indexes: { used: number; file: string } };
  manifests: { key: string; value: ManifestRecord };
  meta: { key: string; value: number };
}

const VERSION = 1;
const SCOPE: ['stripes', 'entries', 'manifests', 'meta'] = [
  'stripes',
  'entries',
  'manifests',
  'meta',
];
type Tx = IDBPTransaction<CacheDb, typeof SCOPE, 'readwrite'>;

export function cacheDbName(meshId: string): string {
  return `wos-cache-${meshId.slice(0, 32)}`;
}

/** Bytes whose buffer is exactly the bytes: IndexedDB would otherwise clone the whole buffer. */
function exact(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

function isShards(v: unknown): v is Uint8Array[] {
  return Array.isArray(v) && v.every((x) => x instanceof Uint8Array);
}

export class IdbFileCache implements FileCache {
  readonly #db: IDBPDatabase<CacheDb>;
  #budget: number;
  #last = 0;

  private constructor(db: IDBPDatabase<CacheDb>, budgetBytes: number) {
    this.#db = db;
    this.#budget = checkBudget(budgetBytes);
  }

  static async open(meshId: string, budgetBytes = DEFAULT_CACHE_BYTES): Promise<IdbFileCache> {
    const db = await openDB<CacheDb>(cacheDbName(meshId), VERSION, {
      upgrade(d) {
        d.createObjectStore('stripes');
        const e = d.createObjectStore('entries', { keyPath: 'key' });
        e.createIndex('used', 'used');
        e.createIndex('file', 'file');
        d.createObjectStore('manifests', { keyPath: 'file' });
        d.createObjectStore('meta');
      },
      blocking() {
        db.close();
      },
    });
    const cache = new IdbFileCache(db, budgetBytes);
    await cache.setBudget(budgetBytes);
    return cache;
  }

  get budgetBytes(): number {
    return this.#budget;
  }

  async setBudget(bytes: number): Promise<void> {
    this.#budget = checkBudget(bytes);
    await this.#change(async (tx, used) => this.#evict(tx, used, 0));
  }

  async usage(): Promise<number> {
    return Number((await this.#db.get('meta', 'usage')) ?? 0);
  }

  async getStripe(key: StripeKey): Promise<Uint8Array[] | undefined> {
    const k = stripeKeyString(key);
    const tx = this.#db.transaction(['stripes', 'entries'], 'readwrite');
    const [entry, shards] = await Promise.all([
      tx.objectStore('entries').get(k),
      tx.objectStore('stripes').get(k),
    ]);
    if (entry) await tx.objectStore('entries').put({ ...entry, used: this.#stamp() });
    await tx.done;
    if (!entry) return undefined;
    if (!isShards(shards)) {
      // A record that is not what was written: the reader would reject it anyway.
      await this.dropStripe(key);
      return undefined;
    }
    return shards;
  }

  async putStripe(
    key: StripeKey,
    shards: readonly Uint8Array[],
    manifest: SignedManifest,
  ): Promise<void> {
    const k = stripeKeyString(key);
    const size = shardBytes(shards);
    const mBytes = manifestBytes(manifest);
    await this.#change(async (tx, used) => {
      used = await this.#remove(tx, used, k);
      if (size + mBytes > this.#budget) return used;
      const cur = await tx.objectStore('manifests').get(key.file);
      if (cur && cur.rev !== key.rev) used = await this.#invalidate(tx, used, key.file, key.rev);
      // Room for the manifest too, even if it is already here: eviction may take it.
      used = await this.#evict(tx, used, size + mBytes);
      if (!(await tx.objectStore('manifests').get(key.file))) {
        await tx.objectStore('manifests').put({ file: key.file, rev: key.rev, ...manifest });
        used += mBytes;
      }
      const entry: Entry = { key: k, ...key, size, used: this.#stamp() };
      await Promise.all([
        tx.objectStore('entries').put(entry),
        tx.objectStore('stripes').put(shards.map(exact), k),
      ]);
      return used + size;
    });
  }

  async dropStripe(key: StripeKey): Promise<void> {
    await this.#change((tx, used) => this.#remove(tx, used, stripeKeyString(key)));
  }

  async getManifest(file: string): Promise<CachedManifest | undefined> {
    const r = await this.#db.get('manifests', file);
    if (!r || typeof r.m !== 'string' || typeof r.sig !== 'string') return undefined;
    return { rev: r.rev, signed: { m: r.m, sig: r.sig } };
  }

  async invalidate(file: string, keepRev?: number): Promise<void> {
    await this.#change((tx, used) => this.#invalidate(tx, used, file, keepRev));
  }

  async contents(): Promise<Map<string, { rev: number; stripes: number }>> {
    const out = new Map<string, { rev: number; stripes: number }>();
    for (const e of await this.#db.getAll('entries')) {
      const cur = out.get(e.file);
      if (!cur || cur.rev < e.rev) out.set(e.file, { rev: e.rev, stripes: 1 });
      else if (cur.rev === e.rev) cur.stripes++;
    }
    return out;
  }

  close(): void {
    this.#db.close();
  }

  /** Runs `fn` in one readwrite transaction with the usage counter, and stores the new count. */
  async #change(fn: (tx: Tx, used: number) => Promise<number>): Promise<void> {
    const tx = this.#db.transaction(SCOPE, 'readwrite');
    const meta = tx.objectStore('meta');
    const before = Number((await meta.get('usage')) ?? 0);
    const after = await fn(tx, before);
    if (after !== before) await meta.put(Math.max(0, after), 'usage');
    await tx.done;
  }

  /** Evicts least recently used stripes until `incoming` more bytes fit; returns the usage. */
  async #evict(tx: Tx, used: number, incoming: number): Promise<number> {
    while (used + incoming > this.#budget) {
      const oldest = await tx.objectStore('entries').index('used').openCursor();
      if (!oldest) break;
      used = await this.#remove(tx, used, oldest.value.key);
    }
    return used;
  }

  async #invalidate(tx: Tx, used: number, file: string, keepRev?: number): Promise<number> {
    const entries = await tx.objectStore('entries').index('file').getAll(file);
    for (const e of entries) if (e.rev !== keepRev) used = await this.#remove(tx, used, e.key);
    const m = await tx.objectStore('manifests').get(file);
    if (m && m.rev !== keepRev) {
      await tx.objectStore('manifests').delete(file);
      used -= manifestBytes(m);
    }
    return used;
  }

  /** Removes one stripe (and its file's manifest if it was the last one); returns the usage. */
  async #remove(tx: Tx, used: number, k: string): Promise<number> {
    const entries = tx.objectStore('entries');
    const e = await entries.get(k);
    if (!e) return used;
    await Promise.all([entries.delete(k), tx.objectStore('stripes').delete(k)]);
    used -= e.size;
    if ((await entries.index('file').count(e.file)) === 0) {
      const m = await tx.objectStore('manifests').get(e.file);
      if (m) {
        await tx.objectStore('manifests').delete(e.file);
        used -= manifestBytes(m);
      }
    }
    return used;
  }

  #stamp(): number {
    this.#last = Math.max(Date.now(), this.#last + 1);
    return this.#last;
  }
}
