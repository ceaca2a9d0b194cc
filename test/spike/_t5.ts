import { installNodeWebRtcGlobals } from '../../src/platform/node/webrtc-globals.ts';
import { PeerServer } from 'peer';
installNodeWebRtcGlobals();
const { Peer } = await import('peerjs/dist/bundler.mjs' as string);
const port = 9125 + Number(process.argv[2] ?? 0);
const server = await new Promise<any>((res) => PeerServer({ host: '127.0.0.1', port, path: '/peerjs' }, res));
const opts = { host: '127.0.0.1', port, path: '/peerjs', secure: false, config: { iceServers: [] } };
const a = new Peer('nodeA', opts); const b = new Peer('nodeB', opts);
await Promise.all([new Promise(r => a.on('open', r)), new Promise(r => b.on('open', r))]);
const log: string[] = [];
b.on('connection', (c: any) => {
  log.push('b connection dcstate=' + c.dataChannel?.readyState);
  c.on('open', () => log.push('b open'));
  c.on('data', () => log.push('b data open=' + c.open + ' dc=' + c.dataChannel?.readyState));
});
const c = a.connect(b.id, { reliable: true, serialization: 'raw' });
c.on('open', () => { log.push('a open'); c.send(new Uint8Array([1])); c.send(new Uint8Array([2])); });
setTimeout(() => { log.push("end b.open="+[...Object.values(b.connections)].flat().map((x:any)=>x.open+"/"+x.dataChannel?.readyState)); console.log(log.join(' | ')); process.exit(0); }, 1500);
