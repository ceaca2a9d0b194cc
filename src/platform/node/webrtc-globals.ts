/**
 * Browser globals that the PeerJS client (peerjs@1.5.x) needs to run unmodified
 * inside Node 20, backed by @roamhq/wrtc (libwebrtc M106) and `ws`.
 *
 * ORDER MATTERS: peerjs computes `util.supports` once, when its module is first
 * evaluated (it does `typeof RTCPeerConnection` and creates a throw-away
 * RTCPeerConnection + data channel). If peerjs is evaluated before these globals
 * exist, `supports.data` is false forever and every `new Peer()` aborts with
 * "browser-incompatible". So call `installNodeWebRtcGlobals()` first and only
 * then load peerjs with a dynamic `import()` — see `./peerjs.ts`, which does both
 * and also works around Node's CJS named-export limitation for peerjs.
 *
 * What is deliberately NOT installed:
 * - `window` (and with it any `navigator.userAgent`): peerjs' bundled
 *   webrtc-adapter runs at import time; when it finds a `window` with a userAgent
 *   it detects "chrome"/"firefox"/"safari" and monkey-patches
 *   `window.RTCPeerConnection` & co (getUserMedia, onTrack, getStats,
 *   max-message-size SDP munging, ...). Those patches assume Blink/Gecko internals
 *   and are not wanted on wrtc. Without `window` the adapter reports
 *   "Not a browser." and touches nothing. peerjs itself never requires the
 *   browser check to pass: `new Peer()` only aborts when
 *   `!supports.audioVideo && !supports.data`, and those depend on
 *   RTCPeerConnection alone. (`util.browser` / `supports.browser` are therefore
 *   "Not a browser." / false in Node; nothing in the data path reads them.)
 * - `location`: peerjs reads `location.protocol` only when the `secure` option is
 *   undefined, and `window.location.hostname` only when `host === "/"`. A Node
 *   agent has no page origin to inherit, so always pass explicit
 *   `host`, `port`, `path` and `secure` to `new Peer()`. A fake `location` would
 *   also make other libraries believe they run in a browser.
 * - `navigator`: Node 20 has none; peerjs only reads `navigator.platform` behind
 *   a `typeof navigator !== "undefined"` guard (iOS detection). Node >= 21 ships a
 *   real `navigator`; that is harmless too (platform is "linux" etc.).
 * - `fetch`: native in Node >= 18. peerjs uses it only for `GET /<key>/id` when
 *   no peer id is passed to `new Peer()`.
 * - `Blob` / `FileReader`: only used by the BinaryPack ("binary") serializer for
 *   Blob payloads. Not needed for `serialization: "raw"`.
 */
import wrtc from '@roamhq/wrtc';
import { WebSocket as NodeWebSocket } from 'ws';

const INSTALLED = Symbol.for('wos.nodeWebRtcGlobals.installed');

type GlobalSlots = Record<string | symbol, unknown>;

function define(name: string, value: unknown): void {
  const g = globalThis as unknown as GlobalSlots;
  // Keep a native implementation if the runtime already has one (e.g. Node >= 22
  // ships a global WebSocket); only fill the gap.
  if (g[name] !== undefined) return;
  Object.defineProperty(globalThis, name, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/** Idempotent: safe to call from several entry points. */
export function installNodeWebRtcGlobals(): void {
  const g = globalThis as unknown as GlobalSlots;
  if (g[INSTALLED] === true) return;

  // The WebRTC constructors peerjs names as free globals:
  // - RTCPeerConnection: `util.supports` probe, and one per DataConnection /
  //   MediaConnection (Negotiator._startPeerConnection).
  // - RTCSessionDescription: Negotiator.handleSDP wraps every received offer/answer
  //   with `new RTCSessionDescription(sdp)` before setRemoteDescription.
  // - RTCIceCandidate: not constructed by peerjs itself (it passes the plain
  //   candidate JSON to addIceCandidate), installed for code that does, and so the
  //   `instanceof`/typeof checks of other WebRTC libraries see a consistent set.
  // - RTCDataChannel / RTCPeerConnectionIceEvent / RTCDataChannelEvent: only for
  //   feature checks (`"RTCDataChannel" in globalThis`), peerjs doesn't use them.
  define('RTCPeerConnection', wrtc.RTCPeerConnection);
  define('RTCSessionDescription', wrtc.RTCSessionDescription);
  define('RTCIceCandidate', wrtc.RTCIceCandidate);
  define('RTCDataChannel', wrtc.RTCDataChannel);
  define(
    'RTCPeerConnectionIceEvent',
    (wrtc as unknown as GlobalSlots)['RTCPeerConnectionIceEvent'],
  );
  define('RTCDataChannelEvent', (wrtc as unknown as GlobalSlots)['RTCDataChannelEvent']);

  // WebSocket: the signalling socket (peerjs' Socket class does
  // `new WebSocket(url)` and only uses onopen/onmessage/onclose, send(), close()
  // and readyState === 1). Node 20 has no global WebSocket (Node 22 does; then the
  // native one is kept). `ws` delivers text frames as strings to `onmessage`,
  // which is what peerjs' JSON.parse expects.
  define('WebSocket', NodeWebSocket);

  g[INSTALLED] = true;
}
