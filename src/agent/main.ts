/**
 * The headless node agent: `npm run agent -- <invite link> [--data DIR] [--donate GiB] [--json]`
 * runs the same core as a tab, in Node with @roamhq/wrtc, and joins the mesh as a node with
 * this machine's cores and a storage folder.
 */
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock.ts';
import type { PeerClassLike } from '../platform/start-node.ts';
import { startNode } from '../platform/start-node.ts';
import { parseMeshRoute } from '../sdk/fragment.ts';
import { loadAgentIdentity } from './agent-identity.ts';
import { loadPeerJs } from '../platform/node/peerjs.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: 'string', default: '.wos-agent' },
    donate: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const usage =
  'usage: npm run agent -- <invite link, e.g. http://host:8080/#/m/KEY> [--data DIR] [--donate GiB] [--json]';
const say = (event: string, data: Record<string, unknown> = {}): void => {
  if (values.json) console.log(JSON.stringify({ event, ...data }));
  else
    console.log(
      `[wos-agent] ${event}${Object.keys(data).length ? ' ' + JSON.stringify(data) : ''}`,
    );
};

if (values.help || positionals.length !== 1) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
let invite: URL;
try {
  invite = new URL(positionals[0]!);
} catch {
  console.error(`not a URL: ${positionals[0]}\n${usage}`);
  process.exit(2);
}
const route = parseMeshRoute(invite.hash);
if (!route) {
  console.error(`the link has no mesh key (expected …/#/m/<43-character key>)\n${usage}`);
  process.exit(2);
}
const donatedBytes = Math.max(0, Number(values.donate) || 0) * 1024 ** 3;
const dataDir = resolve(values.data!);

// Test hook (e2e): `WOS_TEST_PROTOCOL=3-3` makes this agent pose as a build of other versions.
const testProtocol = /^(\d{1,5})-(\d{1,5})$/.exec(process.env['WOS_TEST_PROTOCOL'] ?? '');

const Peer: PeerClassLike = (await loadPeerJs()).Peer;
const identity = await loadAgentIdentity(dataDir, crypto.subtle);
const started = await startNode({
  serverUrl: invite.origin,
  meshKey: route.meshKey,
  kind: 'agent',
  identity,
  // Subscribed before the first dials, whose failures (e.g. PROTOCOL_MISMATCH) matter most.
  beforeStart: (n) => {
    n.on('error', (e) => say('warning', { code: e.code, message: e.message }));
    n.on('version', (m) =>
      say('version', { peer: m.peer, outdated: m.outdated, message: m.message }),
    );
  },
  ...(testProtocol
    ? { protocol: { min: Number(testProtocol[1]), max: Number(testProtocol[2]) } }
    : {}),
  PeerClass: Peer,
  clock: systemClock,
  probe: async () => {
    const fs = await statfs(dataDir);
    const free = fs.bavail * fs.bsize;
    return {
      cores: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      gpu: null,
      storage: {
        quotaBytes: free,
        usageBytes: 0,
        donatedBytes: Math.min(donatedBytes, free),
        persisted: true,
      },
      // The agent has no sandbox for foreign kernels yet, so it donates no compute workers.
      compute: { workers: 0, gpu: false },
      visibility: 'headless',
      platform: `node ${process.version} ${os.platform()} ${os.arch()}`,
    };
  },
}).catch((e: unknown) => {
  say('error', { message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});

const { node } = started;
say('joined', { id: node.id, meshId: node.meshId, dataDir });
let lastCount = -1;
node.on('nodes', (nodes) => {
  if (nodes.length !== lastCount) {
    lastCount = nodes.length;
    say('nodes', { count: nodes.length, coordinator: node.coordinator() });
  }
});
node.on('status', (status) => say('status', { status }));

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  started.stop();
  await node.close({ goodbye: true });
  say('left');
  // wrtc keeps native handles alive; exit explicitly once the goodbye is out.
  setTimeout(() => process.exit(0), 100);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
