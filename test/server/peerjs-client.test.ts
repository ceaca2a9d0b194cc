import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Peer as PeerType, PeerOptions } from 'peerjs';
import {
  closeAll,
  HOST,
  meshId,
  PeerClient,
  postJson,
  startServer,
  type TestServer,
  within,
} from './helpers.ts';

/**
 * The real peerjs@1.5.5 client against our server, signaling only (no WebRTC traffic, so no
 * network namespace is needed): a stub RTCPeerConnection satisfies peerjs's feature probe.
 */
class StubPeerConnection {
  createDataChannel(): { ordered: boolean; binaryType: string; close(): void } {
    return { ordered: true, binaryType: 'arraybuffer', close() {} };
  }
  close(): void {}
}

const g = globalThis as Record<string, unknown>;
const saved = { WebSocket: g.WebSocket, RTCPeerConnection: g.RTCPeerConnection };
let Peer: typeof PeerType;

beforeAll(async () => {
  g.WebSocket = WebSocket;
  g.RTCPeerConnection = StubPeerConnection;
  const mod = (await import('peerjs')) as unknown as {
    Peer?: typeof PeerType;
    default?: { Peer: typeof PeerType };
  };
  const P = mod.Peer ?? mod.default?.Peer;
  if (!P) throw new Error('peerjs exports no Peer');
  Peer = P;
});

afterAll(() => {
  g.WebSocket = saved.WebSocket;
  g.RTCPeerConnection = saved.RTCPeerConnection;
});

const peers: PeerType[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  await closeAll();
});

function newPeer(s: TestServer, id: string, token: string): PeerType {
  const opts: PeerOptions = {
    host: HOST,
    port: s.port,
    path: '/peerjs',
    key: 'peerjs',
    secure: false,
    token,
    debug: 0,
  };
  const p = new Peer(id, opts);
  p.on('error', () => {});
  peers.push(p);
  return p;
}

function opened(p: PeerType, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('peer never opened')), timeoutMs);
    p.once('open', (id) => {
      clearTimeout(t);
      resolve(id);
    });
    p.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

describe('peerjs@1.5.5 client', () => {
  it('opens, joins a mesh with its token, and re-opens after disconnect()/reconnect()', async () => {
    const s = await startServer();
    const p = newPeer(s, 'client-1', 'c1token');
    expect(await opened(p)).toBe('client-1');
    const m = meshId('peerjs');
    expect(
      (await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'client-1', token: 'c1token' }))
        .status,
    ).toBe(200);
    p.disconnect();
    await new Promise((r) => setTimeout(r, 100));
    expect(s.metrics().peers).toBe(0);
    p.reconnect();
    expect(await opened(p)).toBe('client-1');
    expect(s.metrics().peers).toBe(1);
  });

  it('a new Peer with the stored id+token opens while the old socket still lingers', async () => {
    const s = await startServer();
    // The previous page's socket, still open on the server (e.g. its network dropped).
    const stale = await PeerClient.connect(s, 'tab-7', 'stored-token');
    const p = newPeer(s, 'tab-7', 'stored-token');
    expect(await opened(p)).toBe('tab-7');
    expect(await within(stale.closed, 3000, 'stale socket closed')).toBe(4000);
    expect(s.metrics().peers).toBe(1);
  });

  it('a new Peer with another token gets unavailable-id', async () => {
    const s = await startServer();
    await PeerClient.connect(s, 'taken', 'owner-token');
    const p = newPeer(s, 'taken', 'other-token');
    await expect(opened(p)).rejects.toMatchObject({ type: 'unavailable-id' });
  });
});
