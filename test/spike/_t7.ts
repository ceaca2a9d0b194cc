import { installNodeWebRtcGlobals } from '../../src/platform/node/webrtc-globals.ts';
import { PeerServer } from 'peer';
installNodeWebRtcGlobals();
const { Peer } = await import('peerjs/dist/bundler.mjs' as string);
const port = 9300 + Number(process.argv[2] ?? 0);
await new Promise<any>((res) => PeerServer({ host: '127.0.0.1', port, path: '/peerjs' }, res));
const opts = { host: '127.0.0.1', port, path: '/peerjs', secure: false, config: { iceServers: [] } };
const a = new Peer('nodeA', opts); const b = new Peer('nodeB', opts);
await Promise.all([new Promise(r => a.on('open', r)), new Promise(r => b.on('open', r))]);
const stats = { conns: 0, bOpen: 0, dataBeforeOpen: 0, neverOpen: 0, dcOpenButConnNot: 0 };
b.on('connection', (c: any) => {
  stats.conns++;
  let opened = false;
  c.on('open', () => { opened = true; stats.bOpen++; });
  c.on('data', () => { if (!opened) stats.dataBeforeOpen++; });
  setTimeout(() => { if (!opened) { stats.neverOpen++; if (c.dataChannel?.readyState === 'open') stats.dcOpenButConnNot++; } }, 2000);
});
const N = Number(process.argv[3] ?? 40);
const all: any[] = [];
for (let i = 0; i < N; i++) {
  const c = a.connect('nodeB', { reliable: true, serialization: 'raw' });
  all.push(c);
  c.on('open', () => { c.send(new Uint8Array([i & 255])); c.send(new Uint8Array(1000)); });
  if (i % 4 === 3) await new Promise(r => setTimeout(r, 20));
}
await new Promise(r => setTimeout(r, 4000));
console.log(JSON.stringify(stats), 'aOpen', all.filter(c => c.open).length);
process.exit(0);
