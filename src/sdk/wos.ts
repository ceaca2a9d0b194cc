import type { AccountInfo, AccountSession } from '../core/account/account-session.ts';
import type { DeviceInfo, RevocationService } from '../core/account/revocation-service.ts';
import type { MemberInfo, SharedMeshService } from '../core/account/shared-mesh.ts';
import type { ComputeClient, MapOptions, MapResult } from '../core/compute/compute-client.ts';
import type { Kernel, KernelSpec } from '../core/compute/kernel.ts';
import type { LeaseHandle } from '../core/compute/lease-handle.ts';
import type { ResourceKind } from '../core/compute/scheduler.ts';
import { WosError } from '../core/errors.ts';
import type { NodeKind } from '../core/link.ts';
import type { MeshEvent, MeshEvents } from '../core/mesh-events.ts';
import type { MeshNode, NodeInfo, VersionMismatch } from '../core/mesh-node.ts';
import type { TransportStatus } from '../core/transport.ts';
import type { FileArg, FileInfo, FileRef, StorageClient } from '../core/storage/storage-client.ts';
import type { FileHealth } from '../core/storage/health.ts';
import type { PutOptions } from '../core/storage/uploader.ts';
import type { ShareHost, ShareOptions } from '../core/share/share-host.ts';
import type { ReadSharedOptions, SharedFile } from '../core/share/share-reader.ts';

/**
 * `window.wos`: the SDK surface. Applications declare what they need; they never deal with
 * peers, links or retries.
 */
export interface WosEvents {
  nodes: NodeInfo[];
  coordinator: string | undefined;
  error: WosError;
  /** Signaling status: open channels keep working while `offline`. */
  status: TransportStatus;
  /** A peer runs a WOS build this one cannot link with (once per peer): one side must reload. */
  version: VersionMismatch;
}

export interface Wos {
  /** Resolves once this node has joined its mesh; rejects with a WosError if it cannot. */
  readonly ready: Promise<void>;
  readonly node: { readonly id: string; readonly kind: NodeKind };
  /** Every node of the mesh as this node sees it, this one included. */
  nodes(): NodeInfo[];
  coordinator(): string | undefined;
  readonly mesh: { readonly id: string; invite(): string };
  on<K extends keyof WosEvents>(event: K, handler: (value: WosEvents[K]) => void): () => void;
  /** A lease on the best node(s): `use('cpu', 4)`, `use('gpu')`. */
  use(kind: ResourceKind, n?: number, opts?: { signal?: AbortSignal }): Promise<LeaseHandle>;
  readonly compute: {
    /** A kernel from ES-module source text (default export) or a WGSL spec. */
    kernel(spec: string | KernelSpec): Promise<Kernel>;
    /** Runs the kernel on every input across the mesh; results in order, with their nodes. */
    map(
      kernel: Kernel | string,
      inputs: readonly unknown[],
      opts?: MapOptions,
    ): Promise<MapResult[]>;
  };
  /** Files: encrypted with this profile's storage key, erasure-coded across the mesh. */
  readonly files: {
    put(
      name: string,
      data: Blob | ReadableStream<Uint8Array> | Uint8Array,
      opts?: PutOptions,
    ): Promise<FileRef>;
    /**
     * The whole file as a Blob (read as a stream; see `stream` for very large files). `ref` may
     * be a share link (`…/#/s/<code>`, or the code): read as a guest, with progress.
     */
    get(ref: FileArg, opts?: GetOptions): Promise<Blob>;
    stream(ref: FileArg, opts?: GetOptions): Promise<ReadableStream<Uint8Array>>;
    /** A `…/#/s/<code>` link to this file for anyone, served by this profile's tabs. */
    share(ref: FileArg, opts?: ShareOptions): Promise<string>;
    /** Stops serving a link made here: its guests get SHARE_REVOKED. */
    revokeShare(link: string): Promise<void>;
    list(): Promise<FileInfo[]>;
    delete(ref: FileArg): Promise<void>;
    health(ref: FileArg): Promise<FileHealth>;
  };
  /**
   * This profile's account. After `create` or `signIn`, the tab's next start (e.g.
   * `location.hash = '#/me'; location.reload()`) joins the account's personal mesh.
   */
  readonly account: {
    /** A new account; show `recoveryCode` to the user once (it is kept nowhere in clear). */
    create(
      name: string,
      opts?: { deviceName?: string },
    ): Promise<{ handle: string; recoveryCode: string }>;
    /** The signed-in account, or null. */
    current(): Promise<AccountInfo | null>;
    signIn(
      credentials:
        | { handle: string; passphrase: string; deviceName?: string }
        | { recoveryCode: string; handle?: string; deviceName?: string },
    ): Promise<AccountInfo>;
    /** Registers (or, knowing the current one, changes) the passphrase on the server. */
    setPassphrase(passphrase: string, opts?: { current?: string }): Promise<void>;
    signOut(): Promise<void>;
    /**
     * The account's devices this tab knows (certificate name and kind, last seen, resources of
     * their live nodes); only in the personal mesh (ACCOUNT_MESH_REQUIRED otherwise).
     */
    devices(): Promise<DeviceInfo[]>;
    /**
     * Revokes a device: it is disconnected everywhere and refused from then on; a new storage
     * epoch key is made and granted to the other devices, never to it (the grants wait in
     * every online device's store for devices that are offline; every tab takes the key up).
     */
    revoke(deviceId: string): Promise<void>;
    /**
     * Approves a device that lacks the current storage epoch (`needsApproval` in `devices()`,
     * e.g. enrolled by passphrase after a revocation): grants it every epoch this device holds.
     * Only on the user's word (docs/ACCOUNTS.md, threat model rule 1).
     */
    approve(deviceId: string): Promise<void>;
    /**
     * Pairing, on a signed-out device: open `link` on a device that has the account, compare
     * `words` on both screens and approve there; `done` resolves once this device is enrolled.
     */
    pair(): Promise<PairingStart>;
  };
  /**
   * Shared meshes (household, team): meshes whose members are accounts listed by the owner.
   * `create` and `list` work anywhere with an account; `members`, `invite` and `remove` in the
   * shared mesh this tab is in (SHARED_MESH_REQUIRED otherwise; invite and remove: owner only).
   */
  readonly meshes: {
    /** A new shared mesh owned by this account; open `link` to enter it. */
    create(name: string): Promise<{ link: string }>;
    /** The shared meshes this profile knows (created, or joined by invite). */
    list(): Promise<SharedMeshSummary[]>;
    members(): Promise<MemberInfo[]>;
    /** A one-time invite link: the first account that opens it while signed in becomes a member. */
    invite(): Promise<string>;
    /** Removes an account: its devices are disconnected and refused from then on. */
    remove(account: string): Promise<void>;
  };
  /** Mesh-wide events: emit to every node, subscribe, wait. */
  readonly events: {
    emit(name: string, data?: unknown): void;
    on(name: string, handler: (e: MeshEvent) => void): () => void;
    wait(
      name: string,
      predicate?: (e: MeshEvent) => boolean,
      o?: { timeoutMs?: number; signal?: AbortSignal },
    ): Promise<MeshEvent>;
  };
}

export interface SharedMeshSummary {
  readonly meshId: string;
  readonly name: string;
  /** Owner's account key (b64u). */
  readonly owner: string;
  /** Whether this profile's account owns it. */
  readonly mine: boolean;
  readonly members: number;
  /** The link that enters it (mesh key and owner, no invite). */
  readonly link: string;
}

/** Shared meshes in this profile (browser tabs). */
export interface MeshesBinding {
  create(name: string): Promise<{ link: string }>;
  list(): Promise<SharedMeshSummary[]>;
  /** The invite link for a seed made by the shared mesh service of this tab. */
  inviteLink(seed: Uint8Array): string;
}

export type {
  MemberInfo,
  AccountInfo,
  DeviceInfo,
  NodeInfo,
  MapResult,
  MapOptions,
  Kernel,
  LeaseHandle,
  MeshEvent,
  FileRef,
  FileInfo,
};

export interface Runtime {
  node: MeshNode;
  compute: ComputeClient;
  events: MeshEvents;
  storage: { files: StorageClient };
  /** The personal mesh's revocation service (devices, revoke), when this is one. */
  accountMesh?: RevocationService;
  /** The shared mesh's member service, when this is one. */
  sharedMesh?: SharedMeshService;
}

export interface GetOptions {
  signal?: AbortSignal;
  /** Share links only: bytes read so far, per stripe. */
  onProgress?: (p: { bytes: number; total: number }) => void;
}

/** Share links: the owner's host and the guest reader. */
export interface ShareBinding {
  host(): Promise<ShareHost>;
  read(link: string, opts?: ReadSharedOptions): Promise<SharedFile>;
}

/** A share link rather than a file id (22 characters) or reference. */
export function isShareLink(ref: unknown): ref is string {
  return typeof ref === 'string' && (ref.includes('#/s/') || /^[A-Za-z0-9_-]{100,}$/.test(ref));
}

/** A pairing started on the new device (`wos.account.pair()`). */
export interface PairingStart {
  /** `…/#/pair/<one-time key>`: open it on a device that has the account. */
  link: string;
  /** The words to compare, once the other device has connected. */
  words: Promise<string[]>;
  /** This device, enrolled (it joins the personal mesh on its next start). */
  done: Promise<AccountInfo>;
  cancel(): void;
}

export interface WosBinding {
  ready: Promise<Runtime>;
  kind: NodeKind;
  invite(): string;
  /** This profile's account session (tabs have one). */
  account?: Promise<AccountSession>;
  /** Starts pairing this (signed-out) device with an enrolled one. */
  pair?: () => Promise<PairingStart>;
  share?: ShareBinding;
  meshes?: MeshesBinding;
}

export function createWos(binding: WosBinding): Wos {
  let rt: Runtime | undefined;
  const pending: (() => void)[] = [];
  const ready = binding.ready.then((r) => {
    rt = r;
    for (const f of pending.splice(0)) f();
  });
  const runtime = async (): Promise<Runtime> => {
    await ready;
    return rt!;
  };
  // Subscriptions made before the node exists attach when it does.
  const later = (attach: (r: Runtime) => () => void): (() => void) => {
    let off: (() => void) | undefined;
    let cancelled = false;
    const go = (): void => {
      if (!cancelled && rt) off = attach(rt);
    };
    if (rt) go();
    else pending.push(go);
    return () => {
      cancelled = true;
      off?.();
    };
  };
  const shares = (): ShareBinding => {
    if (!binding.share) throw new WosError('SHARE_UNAVAILABLE', 'sharing is not available here');
    return binding.share;
  };
  const accountMesh = async (): Promise<RevocationService> => {
    const r = await runtime();
    if (!r.accountMesh) {
      throw new WosError(
        'ACCOUNT_MESH_REQUIRED',
        'devices are managed from the personal mesh: sign in and open #/me',
      );
    }
    return r.accountMesh;
  };
  const meshes = (): MeshesBinding => {
    if (!binding.meshes) {
      throw new WosError('SHARED_MESH_UNAVAILABLE', 'shared meshes are not available here');
    }
    return binding.meshes;
  };
  const sharedMesh = async (): Promise<SharedMeshService> => {
    const r = await runtime();
    if (!r.sharedMesh) {
      throw new WosError(
        'SHARED_MESH_REQUIRED',
        'this tab is not in a shared mesh: open one from wos.meshes.list() (or its link)',
      );
    }
    return r.sharedMesh;
  };
  const session = async (): Promise<AccountSession> => {
    if (!binding.account) {
      throw new WosError('ACCOUNT_UNAVAILABLE', 'accounts are not available on this node');
    }
    return binding.account;
  };
  return {
    ready,
    node: {
      get id() {
        return rt?.node.id ?? '';
      },
      kind: binding.kind,
    },
    nodes: () => rt?.node.nodes() ?? [],
    coordinator: () => rt?.node.coordinator(),
    mesh: {
      get id() {
        return rt?.node.meshId ?? '';
      },
      invite: () => binding.invite(),
    },
    on: (event, handler) =>
      later(({ node }) => {
        if (event === 'coordinator') {
          return node.on('coordinator', (e) =>
            (handler as (v: string | undefined) => void)(e.coordinator),
          );
        }
        // A late subscriber to `nodes` gets the current list at once, then every change.
        if (event === 'nodes') {
          queueMicrotask(() => (handler as (v: NodeInfo[]) => void)(node.nodes()));
        }
        // Mismatches found while joining (before anyone could subscribe) are replayed first.
        if (event === 'version') {
          for (const m of node.versionMismatches()) (handler as (v: VersionMismatch) => void)(m);
        }
        return node.on(event as 'nodes', handler as (v: NodeInfo[]) => void);
      }),
    use: async (kind, n, opts) => (await runtime()).compute.use(kind, n, opts),
    compute: {
      kernel: async (spec) => (await runtime()).compute.kernel(spec),
      map: async (kernel, inputs, opts) => (await runtime()).compute.map(kernel, inputs, opts),
    },
    files: {
      put: async (name, data, opts) => (await runtime()).storage.files.put(name, data, opts),
      get: async (ref, opts) => {
        if (!isShareLink(ref)) return (await runtime()).storage.files.getBlob(ref, opts);
        const f = await shares().read(ref, opts);
        const parts: BlobPart[] = [];
        const reader = f.stream.getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) {
          parts.push(r.value as Uint8Array<ArrayBuffer>);
        }
        return new Blob(parts, { type: f.type });
      },
      stream: async (ref, opts) =>
        isShareLink(ref)
          ? (await shares().read(ref, opts)).stream
          : (await runtime()).storage.files.get(ref, opts),
      share: async (ref, opts) => (await shares().host()).share(ref, opts),
      revokeShare: async (link) => (await shares().host()).revoke(link),
      list: async () => (await runtime()).storage.files.list(),
      delete: async (ref) => {
        await (await runtime()).storage.files.delete(ref);
      },
      health: async (ref) => (await runtime()).storage.files.health(ref),
    },
    account: {
      create: async (name, opts) => (await session()).create(name, opts?.deviceName),
      current: async () => (await session()).current(),
      signIn: async (c) => {
        const s = await session();
        return 'recoveryCode' in c
          ? s.signInWithRecoveryCode(c.recoveryCode, c.deviceName, c.handle)
          : s.signInWithPassphrase(c.handle, c.passphrase, c.deviceName);
      },
      setPassphrase: async (p, opts) => (await session()).setPassphrase(p, opts?.current),
      signOut: async () => (await session()).signOut(),
      devices: async () => (await accountMesh()).devices(),
      revoke: async (deviceId) => {
        await (await accountMesh()).revoke(deviceId);
      },
      approve: async (deviceId) => {
        await (await accountMesh()).approve(deviceId);
      },
      pair: async () => {
        if (!binding.pair)
          throw new WosError('ACCOUNT_UNAVAILABLE', 'pairing is not available here');
        return binding.pair();
      },
    },
    meshes: {
      create: async (name) => meshes().create(name),
      list: async () => meshes().list(),
      members: async () => (await sharedMesh()).members(),
      invite: async () => meshes().inviteLink(await (await sharedMesh()).invite()),
      remove: async (account) => {
        await (await sharedMesh()).remove(account);
      },
    },
    events: {
      emit: (name, data) => {
        if (!rt) throw new Error('wos.events.emit before wos.ready');
        rt.events.emit(name, data);
      },
      on: (name, handler) => later(({ events }) => events.on(name, handler)),
      wait: async (name, predicate, o) => (await runtime()).events.wait(name, predicate, o),
    },
  };
}
