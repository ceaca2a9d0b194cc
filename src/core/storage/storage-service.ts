import { toBase64Url } from '../bytes.ts';
import type { MeshNode } from '../mesh-node.ts';
import { StorageHolder, type HolderOptions } from './holder.ts';
import { HolderDirectory } from './holder-directory.ts';
import { deriveListTag, ecdsaVerifier, type OwnerSigner, type VerifyFn } from './owner.ts';
import type { ShardStore } from './shard-store.ts';
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
  /** The user's storage root key (HKDF, non-extractable). */
  rootKey: CryptoKey;
  /** Signs manifests and deletes (the device identity until accounts exist). */
  owner: OwnerSigner;
  /** Signature check for owners' keys (ECDSA P-256 by default). */
  verify?: VerifyFn;
}

export interface StorageServiceOptions {
  holder?: Partial<HolderOptions>;
  client?: Partial<ClientOptions>;
}

export class StorageService {
  readonly holder: StorageHolder;
  readonly directory: HolderDirectory;
  readonly files: StorageClient;
  readonly #node: MeshNode;
  #started = false;

  private constructor(
    c: StorageServiceComponents,
    o: StorageServiceOptions,
    tag: string,
    verify: VerifyFn,
  ) {
    const node = c.node;
    this.#node = node;
    this.holder = new StorageHolder(node.bus, node.clock, c.store, c.subtle, verify, o.holder);
    this.directory = new HolderDirectory(node, c.store, o.client?.requestTimeoutMs);
    this.files = new StorageClient({
      bus: node.bus,
      clock: node.clock,
      subtle: c.subtle,
      random: c.random,
      coder: c.coder,
      root: c.rootKey,
      owner: c.owner,
      ownerKey: toBase64Url(c.owner.publicKey),
      tag,
      verify,
      dir: this.directory,
      peers: () => node.members.alive().map((m) => m.id),
      opts: { ...defaultClientOptions, ...o.client },
    });
  }

  static async create(
    c: StorageServiceComponents,
    o: StorageServiceOptions = {},
  ): Promise<StorageService> {
    const tag = await deriveListTag(c.subtle, c.rootKey);
    return new StorageService(c, o, tag, c.verify ?? ecdsaVerifier(c.subtle));
  }

  /** Starts the holder's orphan sweep and learns which stores the members serve. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.holder.start();
    void this.directory.refresh();
  }

  stop(): void {
    this.#started = false;
    this.holder.stop();
  }

  get nodeId(): string {
    return this.#node.id;
  }
}
