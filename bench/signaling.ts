/**
 * Signaling server benchmark: N concurrent PeerJS websocket peers (default 10,000) on loopback.
 *
 * Per run, a fresh server runs in a child process (`signaling-server/main.ts`, limits raised),
 * so the clients' memory does not count. Measured:
 * - joins/s: N / (first connect start → last OPEN), with `concurrency` connects in flight;
 *   plus latency percentiles of connect→OPEN and of ws open→OPEN;
 * - server memory per peer: (RSS with N peers − RSS after a warm-up) / N, from `/metrics`;
 * - relay rate: every peer sends one CANDIDATE to its neighbour, time until all arrive;
 * - shutdown time: SIGTERM until every client has seen its close.
 * Clients send a PeerJS HEARTBEAT every 5 s, like the peerjs client.
 *
 * Usage: `node --import tsx bench/signaling.ts [--peers 10000] [--runs 3] [--concurrency 256]`
 * (`WOS_BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"` profiles the server.)
 * Prints a table on stderr and one JSON object on the last line of stdout. Needs a file-descriptor
 * limit above N + 200 in both processes (`ulimit -n`; 20000 here is enough for 10,000 peers).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

export interface SignalingBenchOptions {
  peers?: number;
  runs?: number;
  concurrency?: number;
  heartbeatMs?: number;
  log?: (line: string) => void;
}

export interface SignalingRun {
  peers: number;
  joinsPerSec: number;
  connectP50Ms: number;
  connectP99Ms: number;
  openToOpenP50Ms: number;
  openToOpenP99Ms: number;
  rssBaselineBytes: number;
  rssBytes: number;
  rssPerPeerBytes: number;
  heapPerPeerBytes: number;
  relayMsgsPerSec: number;
  shutdownMs: number;
}

export interface Stat {
  unit: string;
  median: number;
  runs: number[];
}

export interface SignalingBenchResult extends Stat {
  name: 'signaling_joins_per_second';
  peers: number;
  memoryPerPeer: Stat;
  relay: Stat;
  details: SignalingRun[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';

export async function runSignalingBench(
  opts: SignalingBenchOptions = {},
): Promise<SignalingBenchResult> {
  const peers = opts.peers ?? 10_000;
  const runs = opts.runs ?? 3;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const limit = fdLimit();
  if (limit !== undefined && limit < peers + 200) {
    throw new Error(
      `ulimit -n is ${limit}; ${peers} peers need at least ${peers + 200} (run \`ulimit -n ${peers * 2}\`)`,
    );
  }
  const details: SignalingRun[] = [];
  for (let r = 0; r < runs; r++) {
    const run = await oneRun(peers, opts.concurrency ?? 256, opts.heartbeatMs ?? 5000);
    details.push(run);
    log(
      `run ${r + 1}/${runs}: ${run.joinsPerSec.toFixed(0)} joins/s, ${run.rssPerPeerBytes.toFixed(0)} B/peer`,
    );
  }
  const stat = (unit: string, pick: (r: SignalingRun) => number): Stat => {
    const values = details.map(pick);
    return { unit, median: median(values), runs: values };
  };
  const joins = stat('joins/s', (r) => r.joinsPerSec);
  const result: SignalingBenchResult = {
    name: 'signaling_joins_per_second',
    ...joins,
    peers,
    memoryPerPeer: stat('bytes', (r) => r.rssPerPeerBytes),
    relay: stat('msgs/s', (r) => r.relayMsgsPerSec),
    details,
  };
  log(table(details));
  return result;
}

interface Server {
  child: ChildProcess;
  port: number;
}

async function startServer(peers: number): Promise<Server> {
  const big = String(1e9);
  const child = spawn(
    process.execPath,
    [
      ...serverNodeArgs(),
      '--import',
      'tsx',
      'signaling-server/main.ts',
      '--port',
      '0',
      '--host',
      HOST,
      '--quiet',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        WOS_WS_RATE: big,
        WOS_WS_BURST: big,
        WOS_WS_MAX_PER_IP: big,
        WOS_API_RATE: big,
        WOS_API_BURST: big,
        WOS_MAX_PEERS: String(peers + 1000),
        WOS_ALIVE_TIMEOUT_MS: '60000',
      },
    },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /WOS running at http:\/\/localhost:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
  });
  return { child, port };
}

async function serverMetrics(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${HOST}:${port}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

interface Client {
  ws: WebSocket;
  got: number;
  timer?: NodeJS.Timeout;
}

function connect(
  port: number,
  id: string,
): Promise<{ client: Client; connectMs: number; openToOpenMs: number }> {
  const t0 = performance.now();
  const ws = new WebSocket(
    `ws://${HOST}:${port}/peerjs/peerjs?key=peerjs&id=${id}&token=t${id}&version=1.5.5`,
  );
  const client: Client = { ws, got: 0 };
  return new Promise((resolve, reject) => {
    let tOpen = 0;
    ws.once('open', () => (tOpen = performance.now()));
    ws.once('error', reject);
    ws.once('message', (data) => {
      const msg = JSON.parse((data as Buffer).toString()) as { type: string };
      if (msg.type !== 'OPEN') return reject(new Error(`${id}: expected OPEN, got ${msg.type}`));
      const now = performance.now();
      ws.on('message', () => client.got++);
      resolve({ client, connectMs: now - t0, openToOpenMs: now - tOpen });
    });
  });
}

async function oneRun(
  peers: number,
  concurrency: number,
  heartbeatMs: number,
): Promise<SignalingRun> {
  const server = await startServer(peers);
  const { port } = server;
  try {
    // Warm up (JIT, allocator), then take the memory baseline with no peers connected.
    const warm = await Promise.all(
      Array.from({ length: 200 }, (_, i) => connect(port, `warm${i}`)),
    );
    for (const w of warm) w.client.ws.close();
    while ((await serverMetrics(port)).wos_peers_connected !== 0) await sleep(50);
    await sleep(500);
    const base = await serverMetrics(port);

    const clients: Client[] = new Array<Client>(peers);
    const connectMs: number[] = [];
    const openMs: number[] = [];
    let next = 0;
    const start = performance.now();
    const worker = async (): Promise<void> => {
      while (next < peers) {
        const i = next++;
        const r = await connect(port, `p${i}`);
        clients[i] = r.client;
        connectMs.push(r.connectMs);
        openMs.push(r.openToOpenMs);
        r.client.timer = setInterval(() => r.client.ws.send('{"type":"HEARTBEAT"}'), heartbeatMs);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, peers) }, worker));
    const joinsPerSec = peers / ((performance.now() - start) / 1000);

    await sleep(2000);
    const loaded = await serverMetrics(port);
    if (loaded.wos_peers_connected !== peers) {
      throw new Error(`server reports ${loaded.wos_peers_connected} peers, expected ${peers}`);
    }
    const rss0 = base.wos_process_resident_memory_bytes ?? 0;
    const rss1 = loaded.wos_process_resident_memory_bytes ?? 0;
    const heap0 = base.wos_process_heap_used_bytes ?? 0;
    const heap1 = loaded.wos_process_heap_used_bytes ?? 0;

    // Relay: each peer sends one CANDIDATE to its neighbour.
    const relayStart = performance.now();
    for (let i = 0; i < peers; i++) {
      const dst = `p${(i + 1) % peers}`;
      clients[i]?.ws.send(
        JSON.stringify({ type: 'CANDIDATE', dst, payload: { candidate: 'x', connectionId: 'dc' } }),
      );
    }
    while (clients.some((c) => c.got < 1)) await sleep(5);
    const relayMsgsPerSec = peers / ((performance.now() - relayStart) / 1000);

    // Graceful shutdown with everyone connected.
    const closedAll = Promise.all(clients.map((c) => new Promise((r) => c.ws.once('close', r))));
    const t0 = performance.now();
    server.child.kill('SIGTERM');
    await closedAll;
    const shutdownMs = performance.now() - t0;
    for (const c of clients) clearInterval(c.timer);

    return {
      peers,
      joinsPerSec,
      connectP50Ms: percentile(connectMs, 0.5),
      connectP99Ms: percentile(connectMs, 0.99),
      openToOpenP50Ms: percentile(openMs, 0.5),
      openToOpenP99Ms: percentile(openMs, 0.99),
      rssBaselineBytes: rss0,
      rssBytes: rss1,
      rssPerPeerBytes: (rss1 - rss0) / peers,
      heapPerPeerBytes: (heap1 - heap0) / peers,
      relayMsgsPerSec,
      shutdownMs,
    };
  } finally {
    if (server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await new Promise((r) => server.child.once('exit', r));
    }
  }
}

/** Extra node flags for the server child, e.g. `WOS_BENCH_SERVER_NODE_ARGS=--cpu-prof`. */
function serverNodeArgs(): string[] {
  return (process.env.WOS_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

function fdLimit(): number | undefined {
  try {
    const n = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) ? n : undefined; // "unlimited" → NaN → no check
  } catch {
    return undefined;
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

function median(values: number[]): number {
  return percentile(values, 0.5);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function table(rows: SignalingRun[]): string {
  const head = [
    'run',
    'peers',
    'joins/s',
    'conn p50',
    'conn p99',
    'RSS/peer',
    'heap/peer',
    'relay/s',
    'shutdown',
  ];
  const body = rows.map((r, i) => [
    String(i + 1),
    String(r.peers),
    r.joinsPerSec.toFixed(0),
    `${r.connectP50Ms.toFixed(1)} ms`,
    `${r.connectP99Ms.toFixed(1)} ms`,
    `${(r.rssPerPeerBytes / 1024).toFixed(1)} KiB`,
    `${(r.heapPerPeerBytes / 1024).toFixed(1)} KiB`,
    r.relayMsgsPerSec.toFixed(0),
    `${r.shutdownMs.toFixed(0)} ms`,
  ]);
  const widths = head.map((h, c) =>
    Math.max(h.length, ...body.map((row) => (row[c] ?? '').length)),
  );
  const fmt = (row: string[]): string =>
    row.map((cell, c) => cell.padStart(widths[c] ?? 0)).join('  ');
  return [fmt(head), ...body.map(fmt)].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      peers: { type: 'string', default: '10000' },
      runs: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '256' },
    },
  });
  runSignalingBench({
    peers: Number(values.peers),
    runs: Number(values.runs),
    concurrency: Number(values.concurrency),
  })
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    })
    .catch((err: unknown) => {
      process.stderr.write(
        `signaling bench failed: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      process.exit(1);
    });
}
