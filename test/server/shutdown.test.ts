import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, HOST, PeerClient, startServer, within } from './helpers.ts';

afterEach(closeAll);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('graceful shutdown', () => {
  it('close() closes websockets with 1001, stops accepting and resolves', async () => {
    const s = await startServer();
    const clients = await Promise.all(['s1', 's2', 's3'].map((id) => PeerClient.connect(s, id)));
    // an idle keep-alive HTTP connection must not hold close() up
    await fetch(`${s.base}/healthz`);
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await within(Promise.all(clients.map((c) => c.closed)), 3000, 'closes')).toEqual([
      1001, 1001, 1001,
    ]);
    await expect(fetch(`${s.base}/healthz`)).rejects.toThrow();
    await s.close(); // idempotent
  });

  it('terminates sockets that ignore the close handshake after shutdownTimeoutMs', async () => {
    const s = await startServer({ shutdownTimeoutMs: 300 });
    const c = await PeerClient.connect(s, 'stubborn');
    // Stop reading from the TCP socket: the close frame is never answered.
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const t0 = Date.now();
    await s.close();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
  });

  it('main.ts prints its URL, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'signaling-server/main.ts', '--port', '0', '--host', HOST, '--quiet'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no banner; stderr: ${err}`)), 15_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /WOS running at http:\/\/localhost:(\d+)\//.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
    });
    const health = await fetch(`http://${HOST}:${port}/healthz`);
    expect(((await health.json()) as { ok: boolean }).ok).toBe(true);
    const peer = await PeerClient.connect({ port }, 'main-peer');
    expect(peer.received[0]).toEqual({ type: 'OPEN' });
    const exited = new Promise<number | null>((resolve) =>
      child.on('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await peer.closed).toBe(1001);
    expect(await exited).toBe(0);
    expect(err).toContain('SIGTERM: shutting down');
  }, 30_000);

  it('main.ts rejects a bad port with a usage message', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'signaling-server/main.ts', '--port', 'abc'],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/invalid port/);
  }, 30_000);
});
