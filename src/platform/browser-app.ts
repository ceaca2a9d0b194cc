import { Peer } from 'peerjs';
import { accountMeshParts } from '../core/account/account-mesh.ts';
import type { RevocationService } from '../core/account/revocation-service.ts';
import type { AccountSession } from '../core/account/account-session.ts';
import type { ProfileChannel } from '../core/account/profile-channel.ts';
import { ownerVerifier } from '../core/account/ed25519.ts';
import { systemClock } from '../core/clock.ts';
import { ComputeClient } from '../core/compute/compute-client.ts';
import { ComputeNode } from '../core/compute/compute-node.ts';
import { newMeshKey } from '../core/identity.ts';
import { MeshEvents } from '../core/mesh-events.ts';
import { generateStorageRootKey } from '../core/storage/keys.ts';
import { followEpochKeys, keyRingFrom } from '../core/storage/key-ring.ts';
import { StorageService } from '../core/storage/storage-service.ts';
import type { StripeCoder } from '../core/storage/storage-context.ts';
import { createWos, type Runtime, type Wos } from '../sdk/wos.ts';
import { inviteLink, parseMeshRoute, PERSONAL_ROUTE, sharedMeshLink } from '../sdk/fragment.ts';
import { browserDeviceName, openBrowserAccountSession } from './account/browser-account.ts';
import { pairAsGuest } from './account/browser-pairing.ts';
import { broadcastProfileChannel } from './account/broadcast-profile-channel.ts';
import {
  browserSharedMesh,
  createSharedMesh,
  listSharedMeshes,
  type BrowserSharedMesh,
} from './account/browser-meshes.ts';
import type { SharedMeshService } from '../core/account/shared-mesh.ts';
import {
  loadDeviceIdentity,
  loadSettings,
  loadStorageRootKey,
  saveSettings,
  type Settings,
} from './browser-identity.ts';
import { IdbFileCache } from './storage/idb-file-cache.ts';
import { IdbShardStore } from './storage/idb-shard-store.ts';
import { createBrowserStripeCoder } from './storage/coder-worker-browser.ts';
import { createBrowserExecutors, type BrowserExecutors } from './browser-executors.ts';
import { createBrowserShareHost, createShareGuest } from './share/browser-share.ts';
import type { ShareHost } from '../core/share/share-host.ts';
import { probeBrowser, probeGpu } from './browser-probe.ts';
import { startNode, type StartedNode } from './start-node.ts';

/**
 * Boots this tab as a node: reads (or creates) the mesh key from the URL fragment, loads the
 * device key, starts the sandboxed compute executors, joins through the server this page came
 * from, and says goodbye when the tab closes so peers drop it at once.
 *
 * With an account on this profile and no explicit `#/m/<key>` (or with `#/me`), the tab joins
 * the account's personal mesh instead, stores files under the account's storage roots (new
 * files under the newest epoch held, each file read with its own epoch's root) and signs
 * their manifests as the account.
 */
export interface BrowserRuntime extends Runtime, StartedNode {
  computeNode: ComputeNode;
  executors: BrowserExecutors;
  storage: StorageService;
  shardStore: IdbShardStore;
  fileCache: IdbFileCache;
  /** The erasure coder storage uses: a worker pool, or the main-thread coder as fallback. */
  coder: StripeCoder;
  /** This profile's share links, served by this tab. */
  shares: ShareHost;
}

export interface BrowserApp {
  wos: Wos;
  started: Promise<BrowserRuntime>;
  /** This profile's account session (signed out when there is no account). */
  account: Promise<AccountSession>;
  /** Whether this tab joined (or is joining) the account's personal mesh. */
  personal(): boolean;
  settings(): Promise<Settings>;
  /** Changes what this tab donates (storage bytes, CPU workers) and re-advertises it. */
  donate(change: Partial<Settings>): Promise<void>;
}

export function bootBrowserNode(): BrowserApp {
  const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));
  const explicit = location.hash === PERSONAL_ROUTE ? undefined : parseMeshRoute(location.hash);
  let meshKey = explicit?.meshKey ?? '';
  let personal = false;
  // A shared mesh (`#/m/<key>&owner=…`): admission by the owner's member list.
  let shared: BrowserSharedMesh | undefined;
  const identityReady = loadDeviceIdentity(crypto.subtle);
  const account = identityReady.then(openBrowserAccountSession);
  const started = (async (): Promise<BrowserRuntime> => {
    const identity = await identityReady;
    const session = await account;
    const accountKeys = explicit ? undefined : session.keys;
    let route = explicit;
    if (accountKeys) {
      // The personal mesh: its key stays out of the address bar.
      personal = true;
      route = { meshKey: accountKeys.meshKey };
      if (location.hash !== PERSONAL_ROUTE) history.replaceState(null, '', PERSONAL_ROUTE);
    } else if (!route) {
      route = { meshKey: newMeshKey(random) };
      history.replaceState(null, '', `#/m/${route.meshKey}`);
    }
    meshKey = route.meshKey;
    let settings = await loadSettings();
    const gpu = await probeGpu();
    const executors = await createBrowserExecutors(settings.cpuWorkers, gpu !== null);
    // With an account: the root of every storage epoch this device holds (each manifest names
    // its epoch; new files go under the newest); without one, this profile's own root.
    const storageKeys = accountKeys
      ? { keyRing: await keyRingFrom(crypto.subtle, session) }
      : { rootKey: await loadStorageRootKey(() => generateStorageRootKey(crypto.subtle, random)) };
    const coder = await createBrowserStripeCoder();
    // The personal mesh admits only this account's unrevoked devices.
    const personalMesh = accountKeys
      ? await accountMeshParts(session, {
          subtle: crypto.subtle,
          random,
          now: () => Date.now(),
          ...profileChannel(),
        })
      : undefined;
    let accountMesh: RevocationService | undefined;
    const owner = route.owner;
    shared = owner ? await browserSharedMesh(session, { ...route, owner }) : undefined;
    let sharedMesh: SharedMeshService | undefined;
    let services:
      | Pick<
          BrowserRuntime,
          'computeNode' | 'compute' | 'events' | 'storage' | 'shardStore' | 'fileCache'
        >
      | undefined;
    const s = await startNode({
      serverUrl: location.origin,
      meshKey,
      kind: 'tab',
      identity,
      PeerClass: Peer,
      clock: systemClock,
      probe: async () => {
        settings = await loadSettings();
        return probeBrowser(settings.donatedBytes, gpu, executors.advertised());
      },
      ...(route.directoryMeshId ? { directoryMeshId: route.directoryMeshId } : {}),
      ...(personalMesh ? { admission: personalMesh.admission } : {}),
      ...(shared ? { admission: shared.admission } : {}),
      // Services register their bus handlers before the first peer can ask.
      beforeStart: async (node) => {
        if (personalMesh) accountMesh = await personalMesh.attach(node);
        if (shared) sharedMesh = await shared.attach(node);
        const computeNode = new ComputeNode(node, executors.all, crypto.subtle);
        const shardStore = await IdbShardStore.open(node.meshId, settings.donatedBytes);
        const fileCache = await IdbFileCache.open(node.meshId, settings.cacheBytes);
        const storage = await StorageService.create(
          {
            node,
            store: shardStore,
            coder,
            subtle: crypto.subtle,
            random,
            ...storageKeys,
            // Account files are signed by the account key; holders accept both owner kinds.
            owner: accountKeys ?? identity,
            ...(accountKeys ? { verify: ownerVerifier(crypto.subtle) } : {}),
            cache: fileCache,
          },
          { repairEveryMs: 60_000 },
        );
        // A revocation made here or a grant received: new files use the new epoch at once.
        if (accountMesh) followEpochKeys(crypto.subtle, accountMesh, storage.files);
        storage.start();
        services = {
          computeNode,
          compute: new ComputeClient(node, computeNode, crypto.subtle),
          events: new MeshEvents(node.bus, node.members),
          storage,
          shardStore,
          fileCache,
        };
      },
    });
    const { computeNode, compute, events, storage, shardStore, fileCache } = services!;
    const shares = createBrowserShareHost(storage.files, identity);
    void shares.start().catch(() => {});
    document.addEventListener('visibilitychange', () => void s.refresh());
    addEventListener('pagehide', () => {
      void shares.stop();
      s.stop();
      void s.node.close({ goodbye: true });
      executors.close();
    });
    void navigator.storage?.persist?.().catch(() => false);
    return {
      ...s,
      compute,
      computeNode,
      events,
      executors,
      storage,
      shardStore,
      fileCache,
      coder,
      shares,
      ...(accountMesh ? { accountMesh } : {}),
      ...(sharedMesh ? { sharedMesh } : {}),
    };
  })();
  const guest = createShareGuest(started.then((r) => r.coder));
  const wos = createWos({
    ready: started,
    kind: 'tab',
    // The personal mesh is joined by signing in, never by a link carrying its key.
    invite: () =>
      personal
        ? `${location.origin}${location.pathname}${PERSONAL_ROUTE}`
        : explicit?.owner
          ? sharedMeshLink(`${location.origin}${location.pathname}`, meshKey, explicit.owner)
          : meshKey
            ? inviteLink(location.origin, location.pathname, meshKey)
            : '',
    account,
    pair: async () => pairAsGuest(await account, await identityReady, browserDeviceName()),
    share: { host: async () => (await started).shares, read: (link, o) => guest.read(link, o) },
    meshes: {
      create: async (name) => ({ link: (await createSharedMesh(await account, name)).link }),
      list: async () => {
        const me = (await account).current()?.accountKey;
        const base = `${location.origin}${location.pathname}`;
        return (await listSharedMeshes()).map((r) => ({
          meshId: r.meshId,
          name: r.name,
          owner: r.owner,
          mine: r.owner === me,
          members: r.list?.members.length ?? 0,
          link: sharedMeshLink(base, r.meshKey, r.owner),
        }));
      },
      inviteLink: (seed) => {
        if (!shared) throw new Error('not in a shared mesh');
        return shared.inviteLink(seed);
      },
    },
  });
  return {
    wos,
    started,
    account,
    personal: () => personal,
    settings: loadSettings,
    async donate(change) {
      const next = { ...(await loadSettings()), ...change };
      next.donatedBytes = Math.max(0, next.donatedBytes);
      next.cpuWorkers = Math.max(0, Math.min(64, Math.round(next.cpuWorkers)));
      next.cacheBytes = Math.max(0, next.cacheBytes);
      await saveSettings(next);
      const rt = await started;
      rt.executors.resize(next.cpuWorkers);
      rt.shardStore.quotaBytes = next.donatedBytes;
      await rt.fileCache.setBudget(next.cacheBytes);
      await rt.refresh();
    },
  };
}

/** The other tabs of this profile, when the browser has BroadcastChannel. */
function profileChannel(): { channel?: ProfileChannel } {
  const channel = broadcastProfileChannel();
  return channel ? { channel } : {};
}
