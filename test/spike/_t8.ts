import { readdirSync, readFileSync } from 'node:fs';
import wrtc from '@roamhq/wrtc';
const fds = () => readdirSync('/proc/self/fd').length;
const thr = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status','utf8'))![1]);
console.log('start fds', fds(), 'threads', thr());
async function pair() {
  const p1 = new wrtc.RTCPeerConnection({ iceServers: [] }); const p2 = new wrtc.RTCPeerConnection({ iceServers: [] });
  p1.onicecandidate = (e: any) => e.candidate && p2.addIceCandidate(e.candidate);
  p2.onicecandidate = (e: any) => e.candidate && p1.addIceCandidate(e.candidate);
  const dc = p1.createDataChannel('x');
  const o = await p1.createOffer(); await p1.setLocalDescription(o); await p2.setRemoteDescription(o);
  const an = await p2.createAnswer(); await p2.setLocalDescription(an); await p1.setRemoteDescription(an);
  console.log('sdp done'); await new Promise(r => { dc.onopen = r; setTimeout(() => { console.log('timeout dc', dc.readyState, p1.connectionState, p2.connectionState, p1.iceConnectionState); r(0); }, 3000); });
  return [p1, p2];
}
const pcs: any[] = [];
const p = await pair(); pcs.push(...p);
console.log('1 pair fds', fds(), 'threads', thr());
for (let i = 0; i < 9; i++) pcs.push(...await pair());
console.log('10 pairs fds', fds(), 'threads', thr());
console.log(pcs[0].localDescription.sdp.split('\n').filter((l: string) => /max-message-size|sctp/.test(l)).join(' | '));
console.log('sctp', pcs[0].sctp?.maxMessageSize, pcs[0].sctp?.state);
for (const pc of pcs) pc.close();
await new Promise(r => setTimeout(r, 1000));
console.log('closed fds', fds(), 'threads', thr());
const t = Date.now();
process.on('exit', () => console.log('exit after', Date.now() - t, 'ms'));
