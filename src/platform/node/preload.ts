/**
 * Node preload that lets unmodified browser code `import { Peer } from 'peerjs'`:
 *
 *   node --import tsx --import ./src/platform/node/preload.ts <entry.ts>
 *
 * - Installs the WebRTC/WebSocket globals before any application module (and so
 *   before peerjs' import-time `util.supports` probe) is evaluated: modules named
 *   by `--import` are fully evaluated before the entry point is loaded.
 * - Registers a resolve hook that maps the bare specifier `peerjs` to its ESM build
 *   `peerjs/dist/bundler.mjs`, whose named exports Node can link (the CJS "main"
 *   build only exposes a default export to ESM importers, see ./peerjs.ts).
 *   Every importer then shares that one module instance.
 *
 * The hook is passed as a data: URL so it needs no loader of its own in the hooks
 * thread (it is plain JS); resolution of the target still happens relative to the
 * importing module, so the project's node_modules/peerjs is used.
 */
import { register } from 'node:module';
import { installNodeWebRtcGlobals } from './webrtc-globals.ts';
import { PEERJS_ESM_ENTRY } from './peerjs.ts';

installNodeWebRtcGlobals();

const hook = `
export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'peerjs') return nextResolve(${JSON.stringify(PEERJS_ESM_ENTRY)}, context);
  return nextResolve(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
