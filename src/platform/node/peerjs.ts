/**
 * Load the PeerJS client in Node with the WebRTC globals in place.
 *
 * Two traps make a plain `import { Peer } from 'peerjs'` fail in Node:
 *
 * 1. peerjs' package.json has no "exports"; Node picks "main" = dist/bundler.cjs.
 *    That CJS bundle defines its exports through Parcel getters
 *    (`$parcel$export(module.exports, "Peer", () => ...)`), which Node's
 *    cjs-module-lexer cannot see, so a static named import dies at link time with
 *    "does not provide an export named 'Peer'" (plain node and tsx alike; only the
 *    default export = module.exports exists).
 * 2. peerjs probes WebRTC support once at module evaluation (`util.supports`), so
 *    the globals must exist *before* peerjs is evaluated; a static import is
 *    evaluated before the importing module's body could install them.
 *
 * `loadPeerJs()` solves both: install the globals, then dynamic-import the ESM
 * build (dist/bundler.mjs — the same file Vite bundles for the browser via the
 * "module" field), which has real named exports. Shared code never imports peerjs
 * itself: the `Peer` class is injected (see start-node.ts).
 */
import type * as PeerJsTypes from 'peerjs';
import { installNodeWebRtcGlobals } from './webrtc-globals.ts';

export type PeerJsModule = typeof PeerJsTypes;

/** Deep path to peerjs' ESM build (no "exports" map, so deep imports are allowed). */
export const PEERJS_ESM_ENTRY = 'peerjs/dist/bundler.mjs';

let loading: Promise<PeerJsModule> | undefined;

export function loadPeerJs(): Promise<PeerJsModule> {
  installNodeWebRtcGlobals();
  // A variable specifier keeps tsc from looking for typings of the .mjs path;
  // the module is typed through `import type` of the package root above.
  const specifier: string = PEERJS_ESM_ENTRY;
  loading ??= import(specifier) as Promise<PeerJsModule>;
  return loading;
}

/**
 * `peer.destroy()` that really closes every connection.
 *
 * peerjs 1.5.5 `Peer._cleanupPeer()` does `for (const c of connections) c.close()`
 * while `c.close()` splices `c` out of that same array, so every second connection to
 * the same remote peer is skipped: its RTCPeerConnection stays connected (in Node:
 * ~25 fds + 1-2 threads each, never released, not even by GC). Same bug in browsers. Closing over a copy
 * first avoids it. (Not Node-specific; lives here because only Node agents are
 * expected to hold many connections to one peer and to run for long.)
 */
export function destroyPeer(peer: PeerJsTypes.Peer): void {
  const byPeer = peer.connections as Record<string, { close(): void }[]>;
  for (const list of Object.values(byPeer)) for (const c of [...list]) c.close();
  peer.destroy();
}
