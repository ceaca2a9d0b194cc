import type { Peer, PeerOptions } from 'peerjs';
import type { Admission } from '../core/admission.ts';
import { toBase64Url } from '../core/bytes.ts';
import type { Clock } from '../core/clock.ts';
import { newTabId, nodeIdOf, type DeviceIdentity } from '../core/identity.ts';
import type { NodeKind } from '../core/link.ts';
import { MeshNode, type MeshNodeOptions } from '../core/mesh-node.ts';
import type { Resources } from '../core/resources.ts';
import { measureThroughput } from '../core/throughput-probe.ts';
import { fetchServerConfig, HttpDirectory } from './http-directory.ts';
import { PeerJsTransport } from './peerjs-transport.ts';

/**
 * Wires a MeshNode from real parts: server config, PeerJS transport, HTTP directory, and a
 * resource probe that is re-read periodically and whenever RTTs change.
 */
/** The PeerJS `Peer` class, as the browser bundle or the Node loader provides it. */
export type PeerClassLike = new (id: string, options: PeerOptions) => Peer;

export interface StartNodeOptions {
  serverUrl: string;
  meshKey: string;
  kind: NodeKind;
  identity: DeviceIdentity;
  PeerClass: PeerClassLike;
  probe: () => Promise<Omit<Resources, 'rttMs' | 'throughputMBps'>>;
  clock: Clock;
  fetch?: typeof fetch;
  directoryMeshId?: string;
  membership?: MeshNodeOptions['membership'];
  /** Test hook: speak these protocol versions instead of this build's (pose as another build). */
  protocol?: MeshNodeOptions['protocol'];
  /** Who may join (e.g. `certificateAdmission` for a personal mesh); default: mesh key holders. */
  admission?: Admission;
  /** Re-probe period, ms. */
  probeMs?: number;
  /** Runs after the node exists and before it joins: register services' handlers here. */
  beforeStart?: (node: MeshNode) => Promise<void> | void;
  /** Measure throughput to each new neighbour (up to this many). */
  measureNeighbours?: number;
  signal?: AbortSignal;
}

export interface StartedNode {
  node: MeshNode;
  transport: PeerJsTransport;
  /** Re-reads resources now (e.g. after the user changes the donation). */
  refresh(): Promise<void>;
  stop(): void;
}

const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

export async function startNode(o: StartNodeOptions): Promise<StartedNode> {
  const fetchImpl = o.fetch ?? fetch.bind(globalThis);
  const cfg = await fetchServerConfig(o.serverUrl, fetchImpl);
  const url = new URL(o.serverUrl);
  const id = nodeIdOf(o.identity.deviceId, newTabId(random));
  // PeerJS tokens are alphanumeric; the server ties our id to it, and reconnects reuse it.
  const token = toBase64Url(random(12)).replace(/[-_]/g, 'x');
  const transport = await PeerJsTransport.open(
    {
      id,
      token,
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      secure: url.protocol === 'https:',
      path: cfg.peerPath,
      key: cfg.peerKey,
      iceServers: cfg.iceServers as RTCIceServer[],
      PeerClass: o.PeerClass,
    },
    o.signal,
  );
  const directory = new HttpDirectory(o.serverUrl, id, token, fetchImpl);
  const nodeOpts: MeshNodeOptions = { meshKey: o.meshKey, kind: o.kind };
  if (o.directoryMeshId) nodeOpts.directoryMeshId = o.directoryMeshId;
  if (o.protocol) nodeOpts.protocol = o.protocol;
  if (o.membership) nodeOpts.membership = o.membership;
  const node = await MeshNode.create(
    {
      transport,
      directory,
      identity: o.identity,
      subtle: crypto.subtle,
      random,
      clock: o.clock,
      ...(o.admission ? { admission: o.admission } : {}),
    },
    nodeOpts,
  );
  const throughput: Record<string, number> = {};
  let last = '';
  const refresh = async (): Promise<void> => {
    if (node.closed) return;
    const base = await o.probe();
    const res: Resources = { ...base, rttMs: node.rtt.all(), throughputMBps: { ...throughput } };
    const json = JSON.stringify(res);
    if (json !== last) {
      last = json;
      node.setResources(res);
    }
  };
  await refresh();
  const measured = new Set<string>();
  const offRtt = node.rtt.onUpdate(() => {
    void refresh();
    for (const peer of node.bus.neighbours()) {
      if (measured.has(peer) || measured.size >= (o.measureNeighbours ?? 8)) continue;
      measured.add(peer);
      measureThroughput(node.bus, o.clock, peer, 2 * 1024 * 1024).then(
        (mbps) => {
          throughput[peer] = Math.round(mbps * 10) / 10;
          void refresh();
        },
        () => measured.delete(peer),
      );
    }
  });
  const timer = setInterval(() => void refresh(), o.probeMs ?? 5000);
  await o.beforeStart?.(node);
  await node.start(o.signal);
  return {
    node,
    transport,
    refresh,
    stop: () => {
      offRtt();
      clearInterval(timer);
    },
  };
}
