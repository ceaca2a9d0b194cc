import { afterAll, beforeAll } from 'vitest';
import { PeerJsTransport } from '../../src/platform/peerjs-transport.ts';
import { loadPeerJs } from '../../src/platform/node/peerjs.ts';
import type { WosServer } from '../../signaling-server/server.ts';
import { transportContract } from '../support/transport-contract.ts';
import { startServer } from './fixtures.ts';

/** The same contract against the real PeerJS transport (Node side: @roamhq/wrtc). */
let server: WosServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

let n = 0;
const id = (c: string): string =>
  `${c.repeat(16)}-${String(++n)
    .padStart(8, 'a')
    .replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!)}`;

transportContract('PeerJS (Node, @roamhq/wrtc)', async () => {
  const PeerClass = (await loadPeerJs()).Peer;
  const open = (peerId: string): Promise<PeerJsTransport> =>
    PeerJsTransport.open({
      id: peerId,
      token: `t${peerId.replace(/-/g, '')}`,
      host: '127.0.0.1',
      port: server.port,
      secure: false,
      path: '/peerjs',
      key: 'peerjs',
      iceServers: [],
      dialTimeoutMs: 10_000,
      PeerClass,
    });
  const a = await open(id('a'));
  const b = await open(id('b'));
  return {
    a,
    b,
    absentId: id('c'),
    close: async () => {
      a.close();
      b.close();
    },
  };
});
