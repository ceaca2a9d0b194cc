import { Peer } from 'peerjs';
import { toBase64Url } from '../../core/bytes.ts';
import { systemClock } from '../../core/clock.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  newTabId,
  nodeIdOf,
  type DeviceIdentity,
} from '../../core/identity.ts';
import { MeshNode } from '../../core/mesh-node.ts';
import { emptyResources } from '../../core/resources.ts';
import { ShareHost, type ShareFiles } from '../../core/share/share-host.ts';
import {
  readShared,
  type ReadSharedOptions,
  type SharedFile,
} from '../../core/share/share-reader.ts';
import type { StripeCoder } from '../../core/storage/storage-context.ts';
import { fetchServerConfig, HttpDirectory } from '../http-directory.ts';
import { PeerJsTransport } from '../peerjs-transport.ts';
import { createBrowserStripeCoder } from '../storage/coder-worker-browser.ts';
import { IdbShareRecords } from './idb-share-records.ts';

/**
 * Share links in the browser: the owner's tabs serve the profile's shares (a second mesh node
 * per share, on its rendezvous mesh, through the same signaling server), and a page opened at
 * `#/s/<code>` reads one as a guest — a throwaway identity, no account, no storage key, no
 * store: it joins the share's rendezvous mesh only.
 */
const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

declare global {
  interface Window {
    /** A share link page's state (ShareGuestView), for the browser test suite. */
    __wosShare?: {
      state: string;
      name?: string;
      size?: number;
      /** False for a v1 link (no owner named): the page shows a notice. */
      ownerChecked?: boolean;
      blob?: Blob;
      progress: number[];
      /** ms since the page started loading (`performance.now()`): first bytes, whole file. */
      times: { first?: number; done?: number };
      error?: { code: string; message: string };
    };
  }
}

/** A mesh node of `identity` on `meshKey` through this page's server, not started yet. */
export async function openMeshNode(identity: DeviceIdentity, meshKey: string): Promise<MeshNode> {
  const serverUrl = location.origin;
  const cfg = await fetchServerConfig(serverUrl, fetch.bind(globalThis));
  const url = new URL(serverUrl);
  const id = nodeIdOf(identity.deviceId, newTabId(random));
  const token = toBase64Url(random(12)).replace(/[-_]/g, 'x');
  const transport = await PeerJsTransport.open({
    id,
    token,
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    secure: url.protocol === 'https:',
    path: cfg.peerPath,
    key: cfg.peerKey,
    iceServers: cfg.iceServers as RTCIceServer[],
    PeerClass: Peer,
  });
  const directory = new HttpDirectory(serverUrl, id, token, fetch.bind(globalThis));
  const node = await MeshNode.create(
    { transport, directory, identity, subtle: crypto.subtle, random, clock: systemClock },
    { meshKey, kind: 'tab' },
  );
  node.setResources({ ...emptyResources(), platform: 'browser' });
  return node;
}

/** The owner's share host of this tab (records in IndexedDB; links to this page's address). */
export function createBrowserShareHost(files: ShareFiles, identity: DeviceIdentity): ShareHost {
  return new ShareHost(
    {
      files,
      records: new IdbShareRecords(),
      subtle: crypto.subtle,
      random,
      clock: systemClock,
      joinMesh: (meshKey) => openMeshNode(identity, meshKey),
    },
    { linkBase: `${location.origin}${location.pathname}` },
  );
}

export interface ShareGuest {
  read(link: string, opts?: ReadSharedOptions): Promise<SharedFile>;
}

/** A guest reader (one throwaway identity and coder per page, made on first use). */
export function createShareGuest(coder?: Promise<StripeCoder>): ShareGuest {
  let parts: Promise<{ identity: DeviceIdentity; coder: StripeCoder }> | undefined;
  const ready = () =>
    (parts ??= (async () => ({
      identity: await identityFromKeyPair(
        crypto.subtle,
        await generateDeviceKeyPair(crypto.subtle),
      ),
      coder: await (coder ?? createBrowserStripeCoder()),
    }))());
  return {
    async read(link, opts) {
      const { identity, coder: c } = await ready();
      return readShared(
        {
          subtle: crypto.subtle,
          coder: c,
          clock: systemClock,
          joinMesh: (meshKey) => openMeshNode(identity, meshKey),
        },
        link,
        opts,
      );
    },
  };
}
