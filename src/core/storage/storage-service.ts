import { toBase64Url } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import { StorageHolder, type HolderOptions } from './holder.ts';
import { HolderDirectory, type HolderInfo } from './holder-directory.ts';
import { singleRootRing, type StorageKeyRing } from './key-ring.ts';
import { ecdsaVerifier, type OwnerSigner, type VerifyFn } from './owner.ts';
import { RepairScheduler } from './repair-scheduler.ts';
import type { ShardStore } from './shard-store.ts';
import type { FileCache } from './file-cache.ts';
import { StorageClient } from './storage-client.ts';
import { defaultClientOptions, type ClientOptions, type StripeCoder } from './storage-context.ts';

/**
 * A node's storage service: the holder side (serves shards from its store to the mesh) and the
 * client side (`files`: put/get/list/delete/health/repair for the user's storage key), over the
 * node's message bus. Platform-free: the store, coder, keys and signer are injected.
 *
 * Create it before `node.start()`, so the `st.*` handlers exist when peers first ask.
 */
export interface StorageServiceComponents {
  node: MeshNode;
  /** Where this node keeps shards (IndexedDB in a tab, memory in tests). */
  store: ShardStore;
  coder: StripeCoder;
  subtle: SubtleCrypto;
  random: (n: number) => Uint8Array;
  /**
   * The user's storage root keys by epoch (key-ring.ts), or `rootKey` alone: one root, epoch 0
   * (storage without an account). One of the two.
   */
  keyRing?: StorageKeyRing;
  /** The user's storage root key (HKDF, non-extractable), when there is no `keyRing`. */
  rootKey?: CryptoKey;
  /** Signs manifests and deletes (the device identity until accounts exist). */
  owner: OwnerSigner;
  /** Signature check for owners' keys (ECDSA P-256 by default). */
  verify?: VerifyFn;
  /** A local cache of recently read files (none if absent). */
  cache?: FileCache;
}

export interface StorageServiceOptions {
  holder?: Partial<HolderOptions>;
  client?: Partial<ClientOptions>;
  /** Run the repair loop for this key's files this often once started (off if absent). */
  repairEveryMs?: number;
  /** With the loop on: a pass this long after a node joins or leaves. */
  repairAfterJoinMs?: number;
}

/** A storage node as the Nodes and Files views show it. */
export interface HolderView extends HolderInfo {
  self: boolean;
}

export class StorageService {
  readonly holder: StorageHolder;
  readonly directory: HolderDirectory;
  readonly files: StorageClient;
  readonly #node: MeshNode;
  readonly #store: ShardStore;
  readonly #repair: RepairScheduler | undefined;
  #started = false;

  private constructor(
    c: StorageServiceComponents,
    o: StorageServiceOptions,
    keyRing: StorageKeyRing,
    verify: VerifyFn,
  ) {
    const node = c.node;
    this.#node = node;
    this.#store = c.store;
    this.holder = new StorageHolder(node.bus, node.clock, c.store, c.subtle, verify, o.holder);
    this.directory = new HolderDirectory(node, c.store, o.client?.requestTimeoutMs);
    this.files = new StorageClient({
      bus: node.bus,
      clock: node.clock,
      subtle: c.subtle,
      random: c.random,
      coder: c.coder,
      keyRing,
      owner: c.owner,
      ownerKey: toBase64Url(c.owner.publicKey),
      verify,
      dir: this.directory,
      peers: () => node.members.alive().map((m) => m.id),
      opts: { ...defaultClientOptions, ...o.client },
      ...(c.cache ? { cache: c.cache } : {}),
    });
    if (o.repairEveryMs !== undefined) {
      // One pass per device: its tabs share the owner key and the shard store, and passes in
      // each would repair the same files at once (a conflict every time).
      const pass = (): Promise<unknown> =>
        leadsDevice(node) ? this.files.repairAll() : Promise.resolve();
      const repair = new RepairScheduler(node.clock, pass, {
        intervalMs: o.repairEveryMs,
        settleMs: o.repairAfterJoinMs ?? 2000,
      });
      // A newcomer lets crowded shards spread; a leaver's shards need rebuilding elsewhere. A
      // member whose storage starts after it joined counts once its store is known.
      node.members.on('join', () => repair.kick());
      node.members.on('leave', () => repair.kick());
      this.directory.onStore(() => repair.kick());
      this.#repair = repair;
    }
  }

  static async create(
    c: StorageServiceComponents,
    o: StorageServiceOptions = {},
  ): Promise<StorageService> {
    const ring = c.keyRing ?? (c.rootKey && (await singleRootRing(c.subtle, c.rootKey)));
    if (!ring) throw new ArgumentError('storage needs a key ring or a root key');
    return new StorageService(c, o, ring, c.verify ?? ecdsaVerifier(c.subtle));
  }

  /** Starts the holder's orphan sweep and learns which stores the members serve. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.holder.start();
    this.directory.start();
    void this.directory.refresh();
    this.#repair?.start();
  }

  stop(): void {
    this.#started = false;
    this.holder.stop();
    this.directory.stop();
    this.#repair?.stop();
  }

  /** Every live storage node with its donated quota and use, this node first. */
  async holders(): Promise<HolderView[]> {
    await this.directory.refresh(true);
    const self = {
      node: this.#node.id,
      store: this.#store.id,
      quota: this.#store.quotaBytes,
      used: await this.#store.usage(),
      self: true,
    };
    return [self, ...this.directory.list().map((i) => ({ ...i, self: false }))];
  }

  get nodeId(): string {
    return this.#node.id;
  }
}

/** Whether `node` has the lowest id among the live nodes of its device (it runs repair passes). */
export function leadsDevice(node: Pick<MeshNode, 'id' | 'members'>): boolean {
  const device = deviceOfNode(node.id);
  return !node.members.alive().some((m) => deviceOfNode(m.id) === device && m.id < node.id);
}
