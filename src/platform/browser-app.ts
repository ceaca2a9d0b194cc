import { Peer } from 'peerjs';
import { systemClock } from '../core/clock.ts';
import { newMeshKey } from '../core/identity.ts';
import type { MeshNode } from '../core/mesh-node.ts';
import { createWos, type Wos } from '../sdk/wos.ts';
import { inviteLink, parseMeshRoute } from '../sdk/fragment.ts';
import { loadDeviceIdentity, loadSettings, saveSettings } from './browser-identity.ts';
import { probeBrowser, probeGpu } from './browser-probe.ts';
import { startNode, type StartedNode } from './start-node.ts';

/**
 * Boots this tab as a node: reads (or creates) the mesh key from the URL fragment, loads the
 * device key, joins through the server this page came from, and says goodbye when the tab
 * closes so peers drop it at once.
 */
export interface BrowserApp {
  wos: Wos;
  started: Promise<StartedNode>;
  setDonation(bytes: number): Promise<void>;
  donation(): Promise<number>;
}

export function bootBrowserNode(): BrowserApp {
  let route = parseMeshRoute(location.hash);
  if (!route) {
    route = { meshKey: newMeshKey((n) => crypto.getRandomValues(new Uint8Array(n))) };
    history.replaceState(null, '', `#/m/${route.meshKey}`);
  }
  const meshKey = route.meshKey;
  const started = (async (): Promise<StartedNode> => {
    const identity = await loadDeviceIdentity(crypto.subtle);
    let settings = await loadSettings();
    const gpu = await probeGpu();
    const s = await startNode({
      serverUrl: location.origin,
      meshKey,
      kind: 'tab',
      identity,
      PeerClass: Peer,
      clock: systemClock,
      probe: async () => {
        settings = await loadSettings();
        return probeBrowser(settings.donatedBytes, gpu, { workers: 0, gpu: false });
      },
      ...(route.directoryMeshId ? { directoryMeshId: route.directoryMeshId } : {}),
    });
    document.addEventListener('visibilitychange', () => void s.refresh());
    addEventListener('pagehide', () => {
      s.stop();
      void s.node.close({ goodbye: true });
    });
    void navigator.storage?.persist?.().catch(() => false);
    return s;
  })();
  const wos = createWos({
    ready: started.then((s): MeshNode => s.node),
    kind: 'tab',
    invite: () => inviteLink(location.origin, location.pathname, meshKey),
  });
  return {
    wos,
    started,
    async setDonation(bytes) {
      await saveSettings({ donatedBytes: Math.max(0, bytes) });
      await (await started).refresh();
    },
    donation: async () => (await loadSettings()).donatedBytes,
  };
}
