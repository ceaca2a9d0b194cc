import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import {
  createWosServer,
  type AccountOptions,
  type WosServer,
} from '../../signaling-server/server.ts';

/** Shared pieces of the browser suite: the real server, real Chromium, the real agent. */
export const ROOT = resolve(import.meta.dirname, '../..');
/** The built app; `WOS_DIST` points elsewhere (e.g. a private `vite build --outDir` for parallel local work). */
export const DIST = resolve(ROOT, process.env.WOS_DIST ?? 'dist');

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
  // Hidden tabs must keep their heartbeats: the mesh runs in background tabs too.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * The suite's server. Account records go to `accounts.db` (default `:memory:`: the suite never
 * writes data/wos.sqlite); pass a temporary file to inspect what the server keeps.
 */
export async function startServer(port = 0, accounts: AccountOptions = {}): Promise<WosServer> {
  if (!existsSync(resolve(DIST, 'index.html'))) {
    throw new Error('dist/ is missing: run `npm run build` before the browser suite');
  }
  return createWosServer({
    port,
    host: '127.0.0.1',
    staticDir: DIST,
    // Every tab of the suite shares 127.0.0.1, so per-IP limits are raised for it.
    rateLimit: {
      api: { ratePerSec: 500, burst: 2000 },
      wsConnect: { ratePerSec: 200, burst: 500 },
    },
    accounts: { db: ':memory:', rate: { ratePerSec: 200, burst: 500 }, ...accounts },
  });
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** Opens WOS in a page and waits until it has joined its mesh. */
export async function openNode(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
  await page.goto(url);
  await waitJoined(page);
  return page;
}

/** Waits until a page's WOS node has started (after a load or reload). */
export async function waitJoined(page: Page, timeoutMs = 60_000): Promise<void> {
  await page.waitForFunction(() => window.wos !== undefined);
  // Not `evaluate(() => window.wos.ready)`: awaiting a page promise over CDP now and then fails
  // with "Resulting promise was garbage collected" while the node is still starting (seen with
  // builds from before and after stop 8). The outcome is recorded on the page and polled; a
  // node that never starts still fails here, with its error or a timeout.
  await page.evaluate(() => {
    const w = window as unknown as { __wosReady?: true | string };
    delete w.__wosReady;
    window.wos.ready.then(
      () => (w.__wosReady = true),
      (e: unknown) => (w.__wosReady = `wos.ready rejected: ${String(e)}`),
    );
  });
  const handle = await page.waitForFunction(
    () => (window as unknown as { __wosReady?: true | string }).__wosReady,
    undefined,
    { timeout: timeoutMs, polling: 50 },
  );
  const outcome = (await handle.jsonValue()) as true | string;
  if (outcome !== true) throw new Error(outcome);
}

/** Moves a signed-in tab to its personal mesh (`#/me` and a reload) and waits until it joined. */
export async function enterPersonal(page: Page): Promise<void> {
  await page.evaluate(() => {
    location.hash = '#/me';
  });
  await page.reload();
  await waitJoined(page);
}

export async function nodeIds(page: Page): Promise<string[]> {
  return page.evaluate(() => window.wos.nodes().map((n) => n.id));
}

export async function selfId(page: Page): Promise<string> {
  return page.evaluate(() => window.wos.node.id);
}

export async function inviteOf(page: Page): Promise<string> {
  return page.evaluate(() => window.wos.mesh.invite());
}

/** Polls `fn` until it returns true; returns the elapsed ms, or throws with `what`. */
export async function waitUntil(
  what: string,
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  pollMs = 50,
): Promise<number> {
  const t0 = performance.now();
  let last: unknown;
  for (;;) {
    try {
      if (await fn()) return performance.now() - t0;
    } catch (e) {
      last = e;
    }
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export const sameSet = (a: string[], b: string[]): boolean =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

export interface AgentProcess {
  child: ChildProcess;
  id: Promise<string>;
  lines: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `npm run agent -- <invite>` as a real child process. */
export function startAgent(
  invite: string,
  dataDir: string,
  env: Record<string, string> = {},
): AgentProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', resolve(ROOT, 'src/agent/main.ts'), invite, '--data', dataDir, '--json'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  const lines: string[] = [];
  let buf = '';
  const id = new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        try {
          const ev = JSON.parse(line) as { event?: string; id?: string };
          if (ev.event === 'joined' && ev.id) res(ev.id);
        } catch {
          // plain log line
        }
      }
    });
    child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
    child.on('exit', (code) =>
      rej(new Error(`agent exited (${code}) before joining:\n${lines.join('\n')}`)),
    );
  });
  return {
    child,
    id,
    lines,
    stop: (signal = 'SIGTERM') =>
      new Promise((r) => {
        if (child.exitCode !== null || child.signalCode !== null) return r();
        child.once('exit', () => r());
        child.kill(signal);
      }),
  };
}
