/**
 * Spike: @roamhq/wrtc lifecycle issues behind the PeerJS client in Node.
 *
 *   node --import tsx test/spike/wrtc-lifecycle.ts
 *
 * Re-executes itself in a loopback-only netns (like node-peerjs.ts), runs a PeerServer
 * and spawns child processes (this same file with SPIKE_CHILD=...):
 *
 * 1. exit matrix — each child opens two peerjs peers with a raw connection, exchanges a
 *    message, then ends in one of these ways; the exit status is tabulated:
 *      destroy-exit      destroyPeer() for all peers, then process.exit(0)   <- recommended
 *      exit-only         process.exit(0) with the connections still open
 *      destroy-natural   destroyPeer(), then let the event loop drain
 *      natural-open      nothing closed, let the event loop drain
 *      raw-close-natural plain wrtc, no peerjs: 3 connected pairs, pc.close() all, drain
 *    (124 = killed by the 8 s child timeout, i.e. the process never exited;
 *    139 = SIGSEGV, 134 = SIGABRT).
 * 2. race/scale — one child dials N raw connections between two peers in bursts; the
 *    dialer sends as soon as its side is open. Counts answer-side connections whose
 *    `data` arrived before `open`, or that never opened, plus fds/threads per
 *    RTCPeerConnection while open, 1 s after closing and after a forced GC; the last
 *    run uses plain `peer.destroy()` to show peerjs 1.5.5 leaving connections open.
 *
 * Exit code 0 when the recommended shutdown was clean in every run and every raced
 * connection opened on both sides; the other modes are observations.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DataConnection, Peer as PeerT, PeerOptions } from 'peerjs';
import { destroyPeer, loadPeerJs } from '../../src/platform/node/peerjs.ts';
import { ensureLoopbackOnlyNetns } from './netns.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fdCount = () => readdirSync('/proc/self/fd').length;
const threadCount = () =>
  Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN);

async function openPeers(port: number, ids: string[]): Promise<PeerT[]> {
  const { Peer } = await loadPeerJs();
  const opts: PeerOptions = {
    host: '127.0.0.1',
    port,
    path: '/peerjs',
    secure: false,
    config: { iceServers: [] },
    debug: 0,
  };
  return Promise.all(
    ids.map(
      (id) =>
        new Promise<PeerT>((res, rej) => {
          const p = new Peer(id, opts);
          p.once('open', () => res(p));
          p.once('error', rej);
        }),
    ),
  );
}

/** Plain wrtc (no peerjs): three connected pairs, all closed, then drain the loop. */
async function rawCloseNatural(): Promise<void> {
  const { default: wrtc } = await import('@roamhq/wrtc');
  const pcs: RTCPeerConnection[] = [];
  for (let i = 0; i < 3; i++) {
    const p1 = new wrtc.RTCPeerConnection({ iceServers: [] });
    const p2 = new wrtc.RTCPeerConnection({ iceServers: [] });
    p1.onicecandidate = (e) => void (e.candidate && p2.addIceCandidate(e.candidate).catch(() => {}));
    p2.onicecandidate = (e) => void (e.candidate && p1.addIceCandidate(e.candidate).catch(() => {}));
    const dc = p1.createDataChannel('x');
    const opened = new Promise((r) => (dc.onopen = r));
    await p1.setLocalDescription(await p1.createOffer());
    await p2.setRemoteDescription(p1.localDescription!);
    await p2.setLocalDescription(await p2.createAnswer());
    await p1.setRemoteDescription(p2.localDescription!);
    await opened;
    dc.send(new Uint8Array(10));
    pcs.push(p1, p2);
  }
  for (const pc of pcs) pc.close();
}

async function exitChild(port: number, mode: string): Promise<void> {
  if (mode === 'raw-close-natural') return rawCloseNatural();
  const [a, b] = await openPeers(port, [`x${process.pid}a`, `x${process.pid}b`]);
  const got = new Promise<void>((res) =>
    b!.on('connection', (c) => c.on('data', () => res())),
  );
  const c = a!.connect(b!.id, { reliable: true, serialization: 'raw' });
  c.on('open', () => c.send(new Uint8Array([1, 2, 3])));
  await got;
  if (mode === 'destroy-exit' || mode === 'destroy-natural') {
    destroyPeer(a!);
    destroyPeer(b!);
  }
  if (mode === 'destroy-exit' || mode === 'exit-only') process.exit(0);
  // natural modes: fall off the end and let the event loop drain (or not)
}

async function raceChild(port: number, n: number): Promise<void> {
  const [a, b] = await openPeers(port, [`r${process.pid}a`, `r${process.pid}b`]);
  const base = { fds: fdCount(), threads: threadCount() };
  const r = { n, answerOpened: 0, dialerOpened: 0, dataBeforeOpen: 0, neverOpened: 0 };
  b!.on('connection', (c: DataConnection) => {
    let opened = false;
    c.on('open', () => {
      opened = true;
      r.answerOpened++;
    });
    c.on('data', () => {
      if (!opened) r.dataBeforeOpen++;
    });
  });
  for (let i = 0; i < n; i++) {
    const c = a!.connect(b!.id, { reliable: true, serialization: 'raw' });
    c.on('open', () => {
      r.dialerOpened++;
      c.send(new Uint8Array([i & 255]));
      c.send(new Uint8Array(1000));
    });
    if (i % 5 === 4) await sleep(10);
  }
  const deadline = Date.now() + 20_000;
  while ((r.answerOpened < n || r.dialerOpened < n) && Date.now() < deadline) await sleep(50);
  await sleep(500);
  r.neverOpened = n - r.answerOpened;
  const open = { fds: fdCount(), threads: threadCount() };
  if (process.env['SPIKE_PLAIN_DESTROY'] === '1') {
    a!.destroy(); // peerjs 1.5.5 skips every 2nd connection to the same peer
    b!.destroy();
  } else {
    destroyPeer(a!);
    destroyPeer(b!);
  }
  await sleep(1000);
  const closed = { fds: fdCount(), threads: threadCount() };
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(200);
  const afterGc = { fds: fdCount(), threads: threadCount() };
  const pcs = 2 * n;
  console.log(
    JSON.stringify({
      ...r,
      base,
      open,
      closed,
      afterGc,
      fdsPerPc: Math.round(((open.fds - base.fds) / pcs) * 10) / 10,
      threadsPerPc: Math.round(((open.threads - base.threads) / pcs) * 10) / 10,
    }),
  );
  process.exit(0);
}

const child = process.env['SPIKE_CHILD'];
if (child) {
  const port = Number(process.env['SPIKE_SIGNAL_PORT']);
  if (child === 'race') await raceChild(port, Number(process.env['SPIKE_RACE_N'] ?? 40));
  else await exitChild(port, child);
} else {
  ensureLoopbackOnlyNetns();
  const { PeerServer } = await import('peer');
  const server = await new Promise<Server>((res) =>
    PeerServer({ host: '127.0.0.1', port: 0, path: '/peerjs' }, (s) => res(s as Server)),
  );
  const port = (server.address() as AddressInfo).port;
  // Async spawn: the PeerServer lives in this process and must keep serving.
  type ChildResult = { status: number | null; signal: NodeJS.Signals | null; timedOut: boolean; stdout: string; stderr: string };
  const runChild = (env: Record<string, string>, timeoutMs: number) =>
    new Promise<ChildResult>((resolve) => {
      const cp = spawn(
        process.execPath,
        ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)],
        {
        env: { ...process.env, ...env, SPIKE_SIGNAL_PORT: String(port) },
        },
      );
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      cp.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      cp.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => {
        timedOut = true;
        cp.kill('SIGKILL');
      }, timeoutMs);
      cp.on('close', (status, signal) => {
        clearTimeout(t);
        resolve({ status, signal, timedOut, stdout, stderr });
      });
    });
  const code = (r: ChildResult) =>
    r.timedOut
      ? 124
      : r.signal === 'SIGSEGV'
        ? 139
        : r.signal === 'SIGABRT'
          ? 134
          : (r.signal ?? r.status);

  const runs = Number(process.env['SPIKE_EXIT_RUNS'] ?? 8);
  const matrix: Record<string, unknown[]> = {};
  for (const mode of [
    'destroy-exit',
    'exit-only',
    'destroy-natural',
    'natural-open',
    'raw-close-natural',
  ]) {
    matrix[mode] = [];
    for (let i = 0; i < runs; i++) matrix[mode]!.push(code(await runChild({ SPIKE_CHILD: mode }, 8000)));
    console.log(`exit ${mode.padEnd(16)} ${matrix[mode]!.join(' ')}`);
  }

  const race: unknown[] = [];
  let raceOk = true;
  for (const [n, plain] of [
    [20, false],
    [40, false],
    [60, false],
    [40, true],
  ] as const) {
    const r = await runChild(
      { SPIKE_CHILD: 'race', SPIKE_RACE_N: String(n), SPIKE_PLAIN_DESTROY: plain ? '1' : '0' },
      60_000,
    );
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      const j = JSON.parse(line) as { neverOpened: number; dialerOpened: number; n: number };
      race.push(j);
      raceOk &&= j.neverOpened === 0 && j.dialerOpened === j.n;
      console.log(`race n=${n}${plain ? ' (plain peer.destroy)' : ''} ${line}`);
    } catch {
      raceOk = false;
      race.push({ n, status: code(r), stderr: r.stderr.slice(-500) });
      console.log(`race n=${n} FAILED status=${code(r)} ${r.stderr.slice(-500)}`);
    }
  }
  server.close();
  const recommendedClean = matrix['destroy-exit']!.every((c) => c === 0);
  console.log(JSON.stringify({ matrix, race, recommendedClean, raceOk }, null, 2));
  process.exit(recommendedClean && raceOk ? 0 : 1);
}
