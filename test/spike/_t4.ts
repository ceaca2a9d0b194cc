import { installNodeWebRtcGlobals } from '../../src/platform/node/webrtc-globals.ts';
import { PeerServer } from 'peer';
installNodeWebRtcGlobals();
const { Peer } = await import('peerjs/dist/bundler.mjs' as string);
const server = await new Promise<any>((res) => PeerServer({ host: '127.0.0.1', port: 9124, path: '/peerjs' }, res));
const opts = { host: '127.0.0.1', port: 9124, path: '/peerjs', secure: false, config: { iceServers: [] } };
const a = new Peer('nodeA', opts); const b = new Peer('nodeB', opts);
await Promise.all([new Promise(r => a.on('open', r)), new Promise(r => b.on('open', r))]);
const t0 = Date.now();
b.on('connection', (c: any) => {
  console.log('b connection', Date.now()-t0);
  c.on('open', () => console.log('b conn open', Date.now()-t0));
  c.on('iceStateChanged', (s: any) => console.log('b ice', s));
  const iv = setInterval(() => console.log('b dc state', c.dataChannel?.readyState, c.open), 500);
  setTimeout(() => clearInterval(iv), 3000);
});
const c = a.connect(b.id, { reliable: true, serialization: 'raw' });
c.on('open', () => { console.log('a open', Date.now()-t0); });
setTimeout(() => process.exit(0), 4000);
