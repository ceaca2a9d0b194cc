import { generateDeviceKeyPair, identityFromKeyPair, newMeshKey } from '../../identity.ts';
import type { MeshNode } from '../../mesh-node.ts';
import { emptyResources } from '../../resources.ts';
import { ManualClock } from '../../testing/manual-clock.ts';
import { MemoryNetwork, type MemoryTransport } from '../../testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../testing/seeded-random.ts';
import { createSimNode, trackedSubtle } from '../../testing/sim-node.ts';
import type { FileCache } from '../file-cache.ts';
import type { HolderOptions } from '../holder.ts';
import { importStorageRootKey } from '../keys.ts';
import type { StorageKeyRing } from '../key-ring.ts';
import { MemoryShardStore } from '../memory-shard-store.ts';
import type { OwnerSigner } from '../owner.ts';
import type { ClientOptions, StripeCoder } from '../storage-context.ts';
import { StorageService } from '../storage-service.ts';

/**
 * An in-memory mesh of storage nodes for tests and simulations: each node has a MemoryShardStore
 * (kept across "reloads": a returning node can bring its store back), real WebCrypto (held by
 * the manual clock while it runs) and the injected erasure coder.
 */
export interface StorageSimNode {
  node: MeshNode;
  transport: MemoryTransport;
  store: MemoryShardStore;
  storage: StorageService;
  alive: boolean;
}

export interface StorageMeshOptions {
  seed: number;
  coder: StripeCoder;
  quotaBytes?: number;
  latencyMs?: number;
  client?: Partial<ClientOptions>;
  holder?: Partial<HolderOptions>;
}

export interface AddNodeOptions {
  store?: MemoryShardStore;
  rootKey?: CryptoKey;
  /** Storage root keys by epoch (instead of `rootKey`). */
  keyRing?: StorageKeyRing;
  owner?: OwnerSigner;
  quotaBytes?: number;
  /** Run the owner's repair loop on this node. */
  repairEveryMs?: number;
  /** The node's local file cache (none by default). */
  cache?: FileCache;
  /** The node joins this long before its storage starts (a tab opening its account first). */
  storageDelayMs?: number;
}

/** Seeded test content with `marker` planted every 64 KiB (to search holders for plaintext). */
export function testContent(size: number, seed: number, marker?: Uint8Array): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  if (marker) for (let o = 0; o + marker.length <= size; o += 64 * 1024) out.set(marker, o);
  return out;
}

export class StorageMesh {
  readonly clock = new ManualClock();
  readonly subtle = trackedSubtle(this.clock);
  readonly rand: () => number;
  readonly bytes: (n: number) => Uint8Array;
  readonly net: MemoryNetwork;
  readonly meshKey: string;
  readonly nodes: StorageSimNode[] = [];
  readonly opts: StorageMeshOptions;
  /** The user's storage key and owner signer, shared by every node unless told otherwise. */
  rootKey!: CryptoKey;
  owner!: OwnerSigner;

  private constructor(opts: StorageMeshOptions) {
    this.opts = opts;
    this.rand = seededRandom(opts.seed);
    this.bytes = seededBytes(this.rand);
    this.net = new MemoryNetwork(this.clock, {
      latencyMs: opts.latencyMs ?? 1,
      jitterMs: 1,
      random: this.rand,
    });
    this.meshKey = newMeshKey(this.bytes);
  }

  static async create(n: number, opts: StorageMeshOptions): Promise<StorageMesh> {
    const mesh = new StorageMesh(opts);
    mesh.rootKey = await importStorageRootKey(mesh.subtle, mesh.bytes(32));
    mesh.owner = await mesh.newOwner();
    for (let i = 0; i < n; i++) await mesh.add();
    await mesh.advance(2500);
    return mesh;
  }

  async newOwner(): Promise<OwnerSigner> {
    return identityFromKeyPair(this.subtle, await generateDeviceKeyPair(this.subtle));
  }

  /** Starts a node (with `store`: a returning node with its data); let time pass to join. */
  async add(o: AddNodeOptions = {}): Promise<StorageSimNode> {
    const { node, transport } = await createSimNode(this.net, this.bytes, {
      meshKey: this.meshKey,
    });
    const quota = o.quotaBytes ?? this.opts.quotaBytes ?? 1 << 30;
    const store = o.store ?? new MemoryShardStore(quota, undefined, this.bytes);
    const resources = {
      ...emptyResources(),
      storage: { quotaBytes: quota, usageBytes: 0, donatedBytes: quota, persisted: true },
      platform: 'sim',
    };
    if (o.storageDelayMs !== undefined) {
      node.setResources(resources);
      void node.start().catch(() => {});
      await this.advance(o.storageDelayMs);
    }
    const storage = await StorageService.create(
      {
        node,
        store,
        coder: this.opts.coder,
        subtle: this.subtle,
        random: this.bytes,
        ...(o.keyRing ? { keyRing: o.keyRing } : { rootKey: o.rootKey ?? this.rootKey }),
        owner: o.owner ?? this.owner,
        ...(o.cache ? { cache: o.cache } : {}),
      },
      {
        ...(this.opts.client ? { client: this.opts.client } : {}),
        ...(this.opts.holder ? { holder: this.opts.holder } : {}),
        ...(o.repairEveryMs === undefined ? {} : { repairEveryMs: o.repairEveryMs }),
      },
    );
    if (o.storageDelayMs === undefined) {
      node.setResources(resources);
      void node.start().catch(() => {});
    }
    storage.start();
    const sim = { node, transport, store, storage, alive: true };
    this.nodes.push(sim);
    await this.advance(20);
    return sim;
  }

  /** Which nodes' stores hold each shard ("stripe/index") of `file` now. */
  holdersOf(file: string): Map<string, StorageSimNode[]> {
    const out = new Map<string, StorageSimNode[]>();
    for (const n of this.nodes) {
      for (const s of n.store.shards().filter((x) => x.file === file)) {
        const key = `${s.stripe}/${s.index}`;
        const list = out.get(key) ?? [];
        if (!list.some((x) => x.store === n.store)) list.push(n);
        out.set(key, list);
      }
    }
    return out;
  }

  live(): StorageSimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** The tab crashes: peers notice after the failure timeout. */
  crash(n: StorageSimNode): void {
    n.alive = false;
    n.storage.stop();
    n.transport.crash();
  }

  /** The tab closes cleanly. */
  async leave(n: StorageSimNode): Promise<void> {
    n.alive = false;
    n.storage.stop();
    await this.settle(n.node.close({ goodbye: true }));
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /** Advances the manual clock until `p` settles (or `maxMs` of simulated time pass). */
  async settle<T>(p: Promise<T>, maxMs = 600_000): Promise<T> {
    let done = false;
    const q = p.finally(() => (done = true));
    q.catch(() => {});
    for (let t = 0; t < maxMs && !done; t += 10) await this.clock.advance(10);
    return q;
  }
}
