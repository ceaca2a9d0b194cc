import { Peer } from 'peerjs';
import { systemClock } from '../core/clock.ts';
import { ComputeClient } from '../core/compute/compute-client.ts';
import { ComputeNode } from '../core/compute/compute-node.ts';
import { newMeshKey } from '../core/identity.ts';
import { MeshEvents } from '../core/mesh-events.ts';
import { createWos, type Runtime, type Wos } from '../sdk/wos.ts';
import { inviteLink, parseMeshRoute } from '../sdk/fragment.ts';
import {
  loadDeviceIdentity,
  loadSettings,
  saveSettings,
  type Settings,
} from './browser-identity.ts';
import { createBrowserExecutors, type BrowserExecutors } from './browser-executors.ts';
import { probeBrowser, probeGpu } from './browser-probe.ts';
import { startNode, type StartedNode } from './start-node.ts';

/**
 * Boots this tab as a node: reads (or creates) the mesh key from the URL fragment, loads the
 * device key, starts the sandboxed compute executors, joins through the server this page came
 * from, and says goodbye when the tab closes so peers drop it at once.
 */
export interface BrowserRuntime extends Runtime, StartedNode {
  computeNode: ComputeNode;
  executors: BrowserExecutors;
}

export interface BrowserApp {
  wos: Wos;
  started: Promise<BrowserRuntime>;
  settings(): Promise<Settings>;
  /** Changes what this tab donates (storage bytes, CPU workers) and re-advertises it. */
  donate(change: Partial<Settings>): Promise<void>;
}

export function bootBrowserNode(): BrowserApp {
  let route = parseMeshRoute(location.hash);
  if (!route) {
    route = { meshKey: newMeshKey((n) => crypto.getRandomValues(new Uint8Array(n))) };
    history.replaceState(null, '', `#/m/${route.meshKey}`);
  }
  const meshKey = route.meshKey;
  const started = (async (): Promise<BrowserRuntime> => {
    const identity = await loadDeviceIdentity(crypto.subtle);
    let settings = await loadSettings();
    const gpu = await probeGpu();
    const executors = await createBrowserExecutors(settings.cpuWorkers, gpu !== null);
    let services: Pick<BrowserRuntime, 'computeNode' | 'compute' | 'events'> | undefined;
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
      // Services register their bus handlers before the first peer can ask.
      beforeStart: (node) => {
        const computeNode = new ComputeNode(node, executors.all, crypto.subtle);
        services = {
          computeNode,
          compute: new ComputeClient(node, computeNode, crypto.subtle),
          events: new MeshEvents(node.bus, node.members),
        };
      },
    });
    const { computeNode, compute, events } = services!;
    document.addEventListener('visibilitychange', () => void s.refresh());
    addEventListener('pagehide', () => {
      s.stop();
      void s.node.close({ goodbye: true });
      executors.close();
    });
    void navigator.storage?.persist?.().catch(() => false);
    return { ...s, compute, computeNode, events, executors };
  })();
  const wos = createWos({
    ready: started,
    kind: 'tab',
    invite: () => inviteLink(location.origin, location.pathname, meshKey),
  });
  return {
    wos,
    started,
    settings: loadSettings,
    async donate(change) {
      const next = { ...(await loadSettings()), ...change };
      next.donatedBytes = Math.max(0, next.donatedBytes);
      next.cpuWorkers = Math.max(0, Math.min(64, Math.round(next.cpuWorkers)));
      await saveSettings(next);
      const rt = await started;
      rt.executors.resize(next.cpuWorkers);
      await rt.refresh();
    },
  };
}
