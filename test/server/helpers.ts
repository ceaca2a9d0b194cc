import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocket, type ClientOptions } from 'ws';
import {
  createWosServer,
  type WosServer,
  type WosServerOptions,
} from '../../signaling-server/server.ts';

/** Servers under test bind to loopback only. */
export const HOST = '127.0.0.1';

export interface TestServer extends WosServer {
  base: string;
  logs: string[];
}

const open: TestServer[] = [];

export async function startServer(options: WosServerOptions = {}): Promise<TestServer> {
  const logs: string[] = [];
  const s = await createWosServer({
    port: 0,
    host: HOST,
    staticDir: fixtureDir(),
    log: (line) => logs.push(line),
    ...options,
  });
  const t: TestServer = { ...s, base: `http://${HOST}:${s.port}`, logs };
  open.push(t);
  return t;
}

/** Closes every server started by `startServer` (call from afterEach). */
export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((s) => s.close()));
}

let fixture: string | undefined;

/** A fake built app: index.html, sw.js, a hashed asset. */
export function fixtureDir(): string {
  if (fixture) return fixture;
  const dir = mkdtempSync(path.join(tmpdir(), 'wos-static-'));
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>WOS</title><p>index</p>');
  writeFileSync(path.join(dir, 'sw.js'), 'self.addEventListener("install", () => {});');
  writeFileSync(path.join(dir, 'manifest.webmanifest'), '{"name":"WOS"}');
  writeFileSync(path.join(dir, 'assets', 'app-3f2a9c.js'), 'console.log("app");');
  fixture = dir;
  return dir;
}

/** A mesh id as clients make them: SHA-256 of the mesh key, lowercase hex. */
export function meshId(key = 'mesh-key'): string {
  return createHash('sha256').update(key).digest('hex');
}

export interface PeerMessage {
  type: string;
  src?: string;
  dst?: string;
  payload?: unknown;
}

/** A raw `ws` client speaking the PeerJS server protocol, as the peerjs@1.5.5 client does. */
export class PeerClient {
  readonly ws: WebSocket;
  readonly received: PeerMessage[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];
  readonly closed: Promise<number>;

  constructor(
    server: { port: number },
    readonly id: string,
    readonly token: string,
    opts: { key?: string; ws?: ClientOptions } = {},
  ) {
    const q = `key=${opts.key ?? 'peerjs'}&id=${encodeURIComponent(id)}&token=${encodeURIComponent(token)}`;
    this.ws = new WebSocket(
      `ws://${HOST}:${server.port}/peerjs/peerjs?${q}&version=1.5.5`,
      opts.ws,
    );
    this.ws.on('error', () => {});
    this.ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)) as PeerMessage);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      });
    });
  }

  /** Connects and waits for a first server message (OPEN, ERROR or ID-TAKEN). */
  static async connect(
    server: { port: number },
    id: string,
    token = `tok-${id}`,
    opts: { key?: string; ws?: ClientOptions } = {},
  ): Promise<PeerClient> {
    const c = new PeerClient(server, id, token, opts);
    await c.next();
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Waits for the first received message (from index `from`) that matches. */
  async next(
    match: (m: PeerMessage) => boolean = () => true,
    timeoutMs = 3000,
    from = 0,
  ): Promise<PeerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.slice(from).find(match);
      if (found) return found;
      if (this.closeCode !== undefined) {
        throw new Error(`${this.id}: socket closed (${this.closeCode}) before a matching message`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.id}: no matching message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  types(): string[] {
    return this.received.map((m) => m.type);
  }

  close(): Promise<number> {
    this.ws.close();
    return this.closed;
  }

  private wake(): void {
    const w = this.waiters.splice(0);
    for (const f of w) f();
  }
}

export async function postJson(
  base: string,
  p: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { error?: { code?: string } };
  return body.error?.code ?? '(none)';
}

/** Polls `cond` until true or throws after `timeoutMs`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves like `p`, or rejects after `ms` saying what did not happen. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
