/**
 * Spike: the unmodified browser PeerJS client running in Node 20 on @roamhq/wrtc,
 * talking to other Node peers and to headless Chromium over WebRTC data channels.
 *
 *   node --import tsx test/spike/node-peerjs.ts
 *
 * Runs in a network namespace that has only loopback: when started outside one it
 * re-executes itself under `unshare -n sh -c 'ip link set lo up && exec ...'`
 * (needs root), then checks `ip -o link` lists `lo` alone. Exit code 0 = all checks
 * passed; a JSON summary is printed last. Options (env):
 *   SPIKE_SKIP_BROWSER=1   only part (a)
 *   SPIKE_BULK_MIB=32      bytes per throughput run
 *   SPIKE_HIGH_WATER_KIB=1024  bufferedAmount high-water mark for backpressure
 */
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { PeerServer } from 'peer';
import type { DataConnection, Peer as PeerT, PeerOptions } from 'peerjs';
import { loadPeerJs } from '../../src/platform/node/peerjs.ts';
import { RESPONDER_SOURCE } from './responder-source.ts';
import { ensureLoopbackOnlyNetns } from './netns.ts';

const require = createRequire(import.meta.url);
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

ensureLoopbackOnlyNetns();

// ---------------------------------------------------------------- helpers
const BULK_BYTES = Number(process.env['SPIKE_BULK_MIB'] ?? 32) * 1024 * 1024;
const HIGH_WATER = Number(process.env['SPIKE_HIGH_WATER_KIB'] ?? 1024) * 1024;
const CHUNK = 64 * 1024;
const failures: string[] = [];
const summary: Record<string, unknown> = {};

function check(cond: boolean, what: string): void {
  if (!cond) {
    failures.push(what);
    console.error(`  FAIL ${what}`);
  }
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, rej) => {
      t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
function pattern(size: number, tag: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = tag;
  for (let i = 1; i < size; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}
function sameBytesAfterTag(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 1; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
function typeName(d: unknown): string {
  if (d === null || d === undefined) return String(d);
  if (typeof d === 'string') return 'string';
  let n = Object.prototype.toString.call(d).slice(8, -1);
  const ctor = (d as { constructor?: { name?: string } }).constructor?.name;
  if (ctor && ctor !== n) n += `/${ctor}`;
  return n;
}
function asBytes(d: unknown): Uint8Array {
  if (d instanceof ArrayBuffer) return new Uint8Array(d);
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  throw new Error(`non-binary message: ${typeName(d)}`);
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { n: s.length, min: r(s[0] ?? NaN), median: r(q(0.5)), p90: r(q(0.9)), max: r(q(1)) };
};

/** Node-side active end of the test protocol (see responder-source.ts). */
class Client {
  readonly types: Record<string, number> = {};
  private readonly queues = new Map<number, Uint8Array[]>();
  private readonly waiters = new Map<number, ((m: Uint8Array) => void)[]>();
  bulkBytes = 0;
  bulkMsgs = 0;
  closed = false;
  errors: string[] = [];

  constructor(readonly conn: DataConnection) {
    conn.on('data', (d: unknown) => {
      const t = typeName(d);
      this.types[t] = (this.types[t] ?? 0) + 1;
      const u8 = asBytes(d);
      const tag = u8[0] ?? -1;
      if (tag === 4) {
        this.bulkBytes += u8.byteLength;
        this.bulkMsgs++;
        return;
      }
      const w = this.waiters.get(tag)?.shift();
      if (w) w(u8);
      else this.queues.set(tag, [...(this.queues.get(tag) ?? []), u8]);
    });
    conn.on('close', () => (this.closed = true));
    conn.on('error', (e: Error) => this.errors.push(String(e)));
  }

  next(tag: number, ms = 10_000): Promise<Uint8Array> {
    const q = this.queues.get(tag);
    const m = q?.shift();
    if (m) return Promise.resolve(m);
    return withTimeout(
      new Promise<Uint8Array>((res) =>
        this.waiters.set(tag, [...(this.waiters.get(tag) ?? []), res]),
      ),
      ms,
      `message tag ${tag} on ${this.conn.peer}`,
    );
  }

  async sendWithBackpressure(msg: Uint8Array): Promise<void> {
    const dc = this.conn.dataChannel;
    // wrtc never fires `bufferedamountlow`, so poll. Keep well under libwebrtc's
    // 16 MiB send-queue limit (exceeding it closes the channel) and under peerjs'
    // own 8 MiB threshold (above it peerjs queues in JS and retries every 50 ms).
    while (dc.bufferedAmount + msg.byteLength > HIGH_WATER) await sleep(1);
    this.conn.send(msg);
  }
}

function waitOpen(conn: DataConnection, ms = 15_000): Promise<void> {
  if (conn.open) return Promise.resolve();
  return withTimeout(
    new Promise<void>((res, rej) => {
      conn.once('open', () => res());
      conn.once('error', (e: Error) => rej(e));
    }),
    ms,
    `open of connection to ${conn.peer}`,
  );
}

const text = (u8: Uint8Array) => new TextDecoder().decode(u8.subarray(1));

/** The protocol checks + measurements on one open raw connection. */
async function runSuite(label: string, c: Client): Promise<Record<string, unknown>> {
  const conn = c.conn;
  console.log(`[${label}] suite on connection ${conn.connectionId} to ${conn.peer}`);
  const out: Record<string, unknown> = { serialization: conn.serialization };
  await waitOpen(conn);

  out['hello'] = text(await c.next(1));

  // small echo both ways (request from us, reply from the responder)
  const small = new Uint8Array([2, 1, 2, 3, 250, 251, 252]);
  conn.send(small);
  check(sameBytesAfterTag(small, await c.next(3)), `[${label}] small echo`);

  // A Uint8Array view with byteOffset != 0 must send just the view's bytes.
  const backing = pattern(4096, 2);
  const view = backing.subarray(100, 1100);
  view[0] = 2;
  conn.send(view);
  const viewEcho = await c.next(3);
  check(viewEcho.byteLength === 1000, `[${label}] view send length ${viewEcho.byteLength} != 1000`);
  check(sameBytesAfterTag(view, viewEcho), `[${label}] view echo bytes`);
  // A Node Buffer (pool slice) works too.
  const buf = Buffer.from('\u0002node-buffer');
  conn.send(buf);
  check(text(await c.next(3)) === 'node-buffer', `[${label}] Buffer echo`);

  // 200 KiB message, echoed back whole (one SCTP message each way, no chunking).
  const big = pattern(200 * 1024, 2);
  const t0 = performance.now();
  conn.send(big);
  const bigEcho = await c.next(3, 20_000);
  out['echo200KiBms'] = Math.round((performance.now() - t0) * 10) / 10;
  check(sameBytesAfterTag(big, bigEcho), `[${label}] 200 KiB echo bytes`);

  // RTT: sequential 16-byte pings.
  await sleep(50);
  const rtts: number[] = [];
  for (let i = 0; i < 300; i++) {
    const ping = new Uint8Array(16);
    ping[0] = 2;
    new DataView(ping.buffer).setUint32(1, i, true);
    const s = performance.now();
    conn.send(ping);
    const pong = await c.next(3);
    rtts.push(performance.now() - s);
    check(new DataView(pong.buffer, pong.byteOffset).getUint32(1, true) === i, `[${label}] ping seq`);
  }
  out['rttMs'] = stats(rtts.slice(20)); // drop warm-up

  // Throughput us -> responder, 64 KiB messages, bufferedAmount polling.
  {
    const n = Math.max(1, Math.floor(BULK_BYTES / CHUNK));
    const msg = pattern(CHUNK, 4);
    const s = performance.now();
    for (let i = 0; i < n; i++) await c.sendWithBackpressure(msg);
    conn.send(new Uint8Array([5]));
    const ack = await c.next(6, 120_000);
    const secs = (performance.now() - s) / 1000;
    const v = new DataView(ack.buffer, ack.byteOffset, ack.byteLength);
    check(v.getFloat64(1, true) === n * CHUNK, `[${label}] upload byte count`);
    check(v.getUint32(9, true) === n, `[${label}] upload msg count`);
    out['uploadMBps'] = Math.round(((n * CHUNK) / 1e6 / secs) * 10) / 10;
  }

  // Throughput responder -> us (the responder polls bufferedAmount the same way).
  {
    const n = Math.max(1, Math.floor(BULK_BYTES / CHUNK));
    const req = new Uint8Array(13);
    const v = new DataView(req.buffer);
    req[0] = 7;
    v.setUint32(1, n, true);
    v.setUint32(5, CHUNK, true);
    v.setUint32(9, HIGH_WATER, true);
    c.bulkBytes = 0;
    c.bulkMsgs = 0;
    const s = performance.now();
    conn.send(req);
    const end = await c.next(5, 120_000);
    const secs = (performance.now() - s) / 1000;
    const ev = new DataView(end.buffer, end.byteOffset, end.byteLength);
    check(ev.getFloat64(1, true) === n * CHUNK, `[${label}] download sent count`);
    check(c.bulkBytes === n * CHUNK, `[${label}] download byte count ${c.bulkBytes}`);
    out['downloadMBps'] = Math.round(((n * CHUNK) / 1e6 / secs) * 10) / 10;
  }

  conn.send(new Uint8Array([8]));
  out['responderInfo'] = JSON.parse(text(await c.next(9)));
  out['nodeReceivedTypes'] = c.types;
  const pc = conn.peerConnection as RTCPeerConnection | null;
  out['nodeSctpMaxMessageSize'] = pc?.sctp?.maxMessageSize ?? null;
  check(!c.closed && c.errors.length === 0, `[${label}] connection errors: ${c.errors.join('; ')}`);
  console.log(`[${label}]`, JSON.stringify(out));
  return out;
}

/** Fresh connection per probe: an oversized send may kill the channel. */
async function probeSize(
  label: string,
  dial: () => DataConnection,
  size: number,
  from: 'node' | 'remote',
): Promise<string> {
  const conn = dial();
  const c = new Client(conn);
  try {
    await waitOpen(conn);
    await c.next(1);
    if (from === 'node') {
      const dc = conn.dataChannel;
      try {
        dc.send(pattern(size, 2)); // raw dc.send: peerjs' conn.send would close on throw
      } catch (e) {
        return `send threw: ${String(e)}`;
      }
      const r = await Promise.race([c.next(3, 5000), c.next(12, 5000)]).catch((e) => e as Error);
      if (r instanceof Error) return c.closed ? 'channel closed, no echo' : `no echo (${r.message})`;
      return r[0] === 3 ? (r.byteLength === size ? 'ok' : `echo size ${r.byteLength}`) : text(r);
    }
    const req = new Uint8Array(5);
    req[0] = 10;
    new DataView(req.buffer).setUint32(1, size, true);
    conn.send(req);
    const r = await Promise.race([c.next(11, 5000), c.next(12, 5000)]).catch((e) => e as Error);
    if (r instanceof Error) return c.closed ? 'channel closed, nothing received' : r.message;
    return r[0] === 11 ? (r.byteLength === size ? 'ok' : `got size ${r.byteLength}`) : `remote send threw: ${text(r)}`;
  } catch (e) {
    return `error: ${String(e)}`;
  } finally {
    console.log(`[${label}] probe ${from} sends ${size}: done`);
    conn.close();
  }
}

async function probeSizes(label: string, dial: () => DataConnection) {
  const res: Record<string, string> = {};
  for (const size of [65536, 262144, 262145, 1024 * 1024]) {
    for (const from of ['node', 'remote'] as const) {
      res[`${from}->${size}`] = await probeSize(label, dial, size, from);
    }
  }
  console.log(`[${label}] max-message-size probes`, JSON.stringify(res));
  return res;
}

// ---------------------------------------------------------------- main
const watchdog = setTimeout(() => {
  console.error('FAIL: global watchdog (240 s)');
  process.exit(2);
}, 240_000);

const peerjs = await loadPeerJs();
summary['peerjsUtil'] = { browser: peerjs.util.browser, supports: peerjs.util.supports };
check(peerjs.util.supports.data, 'util.supports.data');

const signal = await new Promise<Server>((res) => {
  PeerServer({ host: '127.0.0.1', port: 0, path: '/peerjs' }, (s) => res(s as Server));
});
const signalPort = (signal.address() as AddressInfo).port;
console.log(`PeerServer on 127.0.0.1:${signalPort}/peerjs`);

const peerOpts: PeerOptions = {
  host: '127.0.0.1',
  port: signalPort,
  path: '/peerjs',
  secure: false, // explicit: no `location` shim in Node
  config: { iceServers: [] },
  debug: 1,
};
const peers: PeerT[] = [];
async function newPeer(id?: string): Promise<PeerT> {
  const p = id ? new peerjs.Peer(id, peerOpts) : new peerjs.Peer(peerOpts);
  peers.push(p);
  await withTimeout(
    new Promise<void>((res, rej) => {
      p.once('open', () => res());
      p.once('error', (e) => rej(e));
    }),
    10_000,
    'peer open',
  );
  return p;
}
const dialRaw = (from: PeerT, to: string) =>
  from.connect(to, { reliable: true, serialization: 'raw' });
const attachResponder = (() => {
  // Same source text as in the browser page.
  new Function(RESPONDER_SOURCE)();
  return (globalThis as unknown as Record<string, (c: DataConnection, who: string) => void>)[
    'spikeAttachResponder'
  ]!;
})();

let browser: import('playwright-core').Browser | undefined;
let httpServer: Server | undefined;
let exitCode = 1;
try {
  // ---------------- (a) Node <-> Node
  const a = await newPeer('node-a');
  const b = await newPeer(); // id from GET /peerjs/id (exercises fetch)
  b.on('connection', (conn) => attachResponder(conn, 'node-b'));
  const tA = performance.now();
  const ab = new Client(dialRaw(a, b.id)); // attach listeners before any event can fire
  await waitOpen(ab.conn);
  summary['nodeNode'] = {
    connectMs: Math.round(performance.now() - tA),
    ...(await runSuite('node->node', ab)),
    maxMessageSize: await probeSizes('node->node', () => dialRaw(a, b.id)),
  };

  // ---------------- (b) Node <-> Chromium
  if (process.env['SPIKE_SKIP_BROWSER'] !== '1') {
    const { chromium } = await import('playwright-core');
    httpServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><meta charset="utf-8"><title>wos spike</title><body>spike</body>');
    });
    await new Promise<void>((r) => httpServer!.listen(0, '127.0.0.1', r));
    const httpPort = (httpServer.address() as AddressInfo).port;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--allow-loopback-in-peer-connection',
        '--use-fake-ui-for-media-stream',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.log(`  [page ${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => console.log(`  [page error] ${e.message}`));
    await page.goto(`http://127.0.0.1:${httpPort}/`);
    await page.addScriptTag({ path: require.resolve('peerjs/dist/peerjs.min.js') });
    await page.addScriptTag({ content: RESPONDER_SOURCE });
    // Page code is passed as strings: tsx/esbuild may inject helpers (__name) into
    // compiled functions, which do not exist in the page.
    await page.evaluate(`new Promise((res, rej) => {
      const peer = new window.peerjs.Peer('chromium-1', ${JSON.stringify(peerOpts)});
      window.__peer = peer;
      peer.on('open', () => res(peer.id));
      peer.on('error', (e) => rej(String(e)));
      peer.on('connection', (c) => spikeAttachResponder(c, 'chromium (answerer)'));
    })`);
    summary['chromium'] = {
      version: browser.version(),
      peerjsUtil: await page.evaluate(
        '({ browser: window.peerjs.util.browser, version: window.peerjs.util.browserVersion, supports: window.peerjs.util.supports })',
      ),
    };

    // (b1) Node dials Chromium.
    const n = await newPeer('node-agent');
    const t1 = performance.now();
    const nc = new Client(dialRaw(n, 'chromium-1'));
    await waitOpen(nc.conn);
    summary['nodeDialsChromium'] = {
      connectMs: Math.round(performance.now() - t1),
      ...(await runSuite('node->chromium', nc)),
    };

    // (b2) Chromium dials Node; Node drives the suite on the incoming connection.
    const incoming = new Promise<Client>((res) => n.once('connection', (c) => res(new Client(c))));
    const t2 = performance.now();
    await page.evaluate(`(() => {
      const c = window.__peer.connect('node-agent', { reliable: true, serialization: 'raw' });
      spikeAttachResponder(c, 'chromium (dialer)');
    })()`);
    const cn = await withTimeout(incoming, 15_000, 'incoming connection from chromium');
    await waitOpen(cn.conn);
    summary['chromiumDialsNode'] = {
      connectMs: Math.round(performance.now() - t2),
      ...(await runSuite('chromium->node', cn)),
    };

    summary['nodeChromiumMaxMessageSize'] = await probeSizes('node->chromium', () =>
      dialRaw(n, 'chromium-1'),
    );
    await page.evaluate('window.__peer.destroy()');
  }

  // ---------------- static `import { Peer } from 'peerjs'` via the preload
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './src/platform/node/preload.ts',
      'test/spike/static-import-check.ts',
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  );
  check(child.status === 0, `static import via preload: ${child.stderr}`);
  summary['staticImportViaPreload'] = child.status === 0 ? JSON.parse(child.stdout) : child.stderr;

  exitCode = failures.length === 0 ? 0 : 1;
} catch (e) {
  console.error('FAIL (exception):', e);
  failures.push(String(e));
} finally {
  // Clean shutdown recipe for wrtc: close every RTCPeerConnection (peer.destroy()
  // closes all its connections + the signalling socket), then exit explicitly.
  // Letting the event loop drain after closing PCs segfaults/aborts in wrtc's
  // teardown most of the time, and with open PCs the loop never drains.
  await browser?.close().catch(() => undefined);
  for (const p of peers) p.destroy();
  httpServer?.close();
  signal.close();
  clearTimeout(watchdog);
  summary['failures'] = failures;
  console.log(JSON.stringify(summary, null, 2));
  console.log(exitCode === 0 ? 'SPIKE OK' : 'SPIKE FAILED');
  setTimeout(() => process.exit(exitCode), 100);
}
