import {
  checkBudget,
  DEFAULT_CACHE_BYTES,
  manifestBytes,
  shardBytes,
  stripeKeyString,
  type CachedManifest,
  type FileCache,
  type StripeKey,
} from './file-cache.ts';
import type { SignedManifest } from './shard-store.ts';

/**
 * A Map-backed FileCache for tests and headless nodes. The Map's insertion order is the
 * recency order: a read moves the entry to the end, eviction takes from the front.
 */
interface Entry {
  key: StripeKey;
  shards: Uint8Array[];
  size: number;
}

export class MemoryFileCache implements FileCache {
  #budget: number;
  readonly #stripes = new Map<string, Entry>();
  readonly #manifests = new Map<string, CachedManifest>();
  #usage = 0;

  constructor(budgetBytes = DEFAULT_CACHE_BYTES) {
    this.#budget = checkBudget(budgetBytes);
  }

  get budgetBytes(): number {
    return this.#budget;
  }

  async setBudget(bytes: number): Promise<void> {
    this.#budget = checkBudget(bytes);
    this.#evict(0);
  }

  async usage(): Promise<number> {
    return this.#usage;
  }

  async getStripe(key: StripeKey): Promise<Uint8Array[] | undefined> {
    const k = stripeKeyString(key);
    const e = this.#stripes.get(k);
    if (!e) return undefined;
    this.#stripes.delete(k);
    this.#stripes.set(k, e);
    return e.shards.map((s) => s.slice());
  }

  async putStripe(
    key: StripeKey,
    shards: readonly Uint8Array[],
    manifest: SignedManifest,
  ): Promise<void> {
    const k = stripeKeyString(key);
    this.#remove(k);
    const size = shardBytes(shards);
    const mBytes = manifestBytes(manifest);
    if (size + mBytes > this.#budget) return;
    const cur = this.#manifests.get(key.file);
    if (cur && cur.rev !== key.rev) this.#invalidate(key.file, key.rev);
    // Room for the manifest too, even if it is already here: eviction may take it.
    this.#evict(size + mBytes);
    if (!this.#manifests.has(key.file)) {
      this.#manifests.set(key.file, { rev: key.rev, signed: { ...manifest } });
      this.#usage += mBytes;
    }
    this.#stripes.set(k, { key: { ...key }, shards: shards.map((s) => s.slice()), size });
    this.#usage += size;
  }

  async dropStripe(key: StripeKey): Promise<void> {
    this.#remove(stripeKeyString(key));
  }

  async getManifest(file: string): Promise<CachedManifest | undefined> {
    const m = this.#manifests.get(file);
    return m && { rev: m.rev, signed: { ...m.signed } };
  }

  async invalidate(file: string, keepRev?: number): Promise<void> {
    this.#invalidate(file, keepRev);
  }

  async contents(): Promise<Map<string, { rev: number; stripes: number }>> {
    const out = new Map<string, { rev: number; stripes: number }>();
    for (const { key } of this.#stripes.values()) {
      const cur = out.get(key.file);
      if (!cur || cur.rev < key.rev) out.set(key.file, { rev: key.rev, stripes: 1 });
      else if (cur.rev === key.rev) cur.stripes++;
    }
    return out;
  }

  /** Evicts least recently used stripes until `incoming` more bytes fit. */
  #evict(incoming: number): void {
    for (const k of this.#stripes.keys()) {
      if (this.#usage + incoming <= this.#budget) return;
      this.#remove(k);
    }
  }

  #invalidate(file: string, keepRev: number | undefined): void {
    for (const [k, e] of [...this.#stripes]) {
      if (e.key.file === file && e.key.rev !== keepRev) this.#remove(k);
    }
    const m = this.#manifests.get(file);
    if (m && m.rev !== keepRev) this.#dropManifest(file);
  }

  #remove(k: string): void {
    const e = this.#stripes.get(k);
    if (!e) return;
    this.#stripes.delete(k);
    this.#usage -= e.size;
    const file = e.key.file;
    if (![...this.#stripes.values()].some((x) => x.key.file === file)) this.#dropManifest(file);
  }

  #dropManifest(file: string): void {
    const m = this.#manifests.get(file);
    if (!m) return;
    this.#manifests.delete(file);
    this.#usage -= manifestBytes(m.signed);
  }
}
