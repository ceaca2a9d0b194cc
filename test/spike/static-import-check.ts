/**
 * Run with the preload (see src/platform/node/preload.ts):
 *   node --import tsx --import ./src/platform/node/preload.ts test/spike/static-import-check.ts
 * Proves that an unmodified static `import { Peer } from 'peerjs'` links in Node and
 * that peerjs saw the WebRTC globals at evaluation time. Prints one JSON line.
 */
import { Peer, util } from 'peerjs';
import * as viaLoader from '../../src/platform/node/peerjs.ts';

const loaded = await viaLoader.loadPeerJs();
const result = {
  peerIsFunction: typeof Peer === 'function',
  supports: util.supports,
  browser: util.browser,
  sameInstanceAsLoadPeerJs: loaded.Peer === Peer,
};
console.log(JSON.stringify(result));
process.exit(result.peerIsFunction && util.supports.data && result.sameInstanceAsLoadPeerJs ? 0 : 1);
