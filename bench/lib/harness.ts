import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  CHROMIUM_ARGS,
  launchBrowser,
  sameSet,
  startAgent,
  startServer,
  waitUntil,
  type AgentProcess,
} from '../../test/e2e/fixtures.ts';
import { INIT_SCRIPT, type PageProbe } from './page-probe.ts';

/**
 * The real pieces every browser benchmark needs: the WOS server serving dist/, one Chromium,
 * tabs each in their own context (separate profile: own device key, IndexedDB, service worker)
 * and headless agents as child processes.
 */
export interface Tab {
  context: BrowserContext;
  page: Page;
  id: string;
}

export interface Agent {
  proc: AgentProcess;
  id: string;
  dataDir: string;
  /** Every `nodes` line the agent printed: when it arrived and the count it gave. */
  counts: { at: number; count: number }[];
}

export class Harness {
  readonly tabs: Tab[] = [];
  readonly agents: Agent[] = [];

  private constructor(
    readonly server: WosServer,
    readonly browser: Browser,
    readonly isolated: boolean,
  ) {}

  /**
   * `isolated`: serve the app document with COOP/COEP so pages are cross-origin isolated and
   * `performance.now()` has 5 µs resolution instead of 100 µs (needed to time sub-ms RTTs).
   */
  static async start({ isolated = false } = {}): Promise<Harness> {
    const server = await startServer();
    const browser = isolated
      ? await chromium.launch({
          executablePath: '/usr/bin/chromium',
          // A document fulfilled by Playwright has no IP address space, so Local Network Access
          // would block its loopback WebSocket to the signaling server.
          args: [...CHROMIUM_ARGS, '--disable-features=LocalNetworkAccessChecks'],
        })
      : await launchBrowser();
    return new Harness(server, browser, isolated);
  }

  get url(): string {
    return this.server.url;
  }

  /** A blank page in a fresh context, with the probe installed; not yet navigated. */
  async blankPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await this.browser.newContext();
    await context.addInitScript({ content: INIT_SCRIPT });
    if (this.isolated) await isolate(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => process.stderr.write(`[page error] ${e.message}\n`));
    return { context, page };
  }

  /** Opens WOS at `url` in a new context and waits until it has joined. */
  async openTab(url: string): Promise<Tab> {
    const { context, page } = await this.blankPage();
    await page.goto(url);
    const tab = { context, page, id: await waitReady(page) };
    this.tabs.push(tab);
    return tab;
  }

  async invite(): Promise<string> {
    const first = this.tabs[0];
    if (!first) return this.url;
    return first.page.evaluate(() => window.wos.mesh.invite());
  }

  async startAgent(): Promise<Agent> {
    const dataDir = mkdtempSync(join(tmpdir(), 'wos-bench-agent-'));
    const proc = startAgent(await this.invite(), dataDir);
    const counts: Agent['counts'] = [];
    let buf = '';
    proc.child.stdout?.on('data', (d: Buffer) => {
      const at = Date.now();
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const count = /"event":"nodes","count":(\d+)/.exec(line)?.[1];
        if (count !== undefined) counts.push({ at, count: Number(count) });
      }
    });
    const agent = { proc, id: await proc.id, dataDir, counts };
    this.agents.push(agent);
    return agent;
  }

  /** Ids every member should see: all live tabs and agents. */
  expectedIds(): string[] {
    return [...this.tabs.map((t) => t.id), ...this.agents.map((a) => a.id)];
  }

  /** Waits until every tab sees exactly the live members and every agent counts them. */
  async settle(timeoutMs = 10_000, quietMs = 1000): Promise<void> {
    const expected = this.expectedIds();
    await waitUntil(
      `every member to see ${expected.length} nodes`,
      async () => {
        for (const t of this.tabs) if (!sameSet(await idsOf(t.page), expected)) return false;
        return this.agents.every((a) => a.counts.at(-1)?.count === expected.length);
      },
      timeoutMs,
    );
    // Let the join's side traffic (RTT pings, 2 MiB throughput probe per new link) finish.
    await sleep(quietMs);
  }

  /** Closes a tab the way a user does: `beforeunload`/`pagehide` run and it says goodbye. */
  async closeTab(tab: Tab): Promise<void> {
    this.forget(tab);
    const closed = new Promise((r) => tab.page.once('close', r));
    await tab.page.close({ runBeforeUnload: true });
    await closed;
  }

  /** Crashes a tab's renderer: no goodbye, no pagehide, like a killed process. */
  async crashTab(tab: Tab): Promise<void> {
    this.forget(tab);
    const cdp = await tab.context.newCDPSession(tab.page);
    const crashed = new Promise((r) => tab.page.once('crash', r));
    // The command never answers: the renderer it talks to is gone.
    void cdp.send('Page.crash').catch(() => {});
    await crashed;
  }

  async killAgent(agent: Agent): Promise<void> {
    this.agents.splice(this.agents.indexOf(agent), 1);
    await agent.proc.stop('SIGKILL');
    rmSync(agent.dataDir, { recursive: true, force: true });
  }

  /** Drops a tab from the live set (its context is closed at the end). */
  forget(tab: Tab): void {
    const i = this.tabs.indexOf(tab);
    if (i >= 0) this.tabs.splice(i, 1);
    this.#dead.push(tab.context);
  }

  /** Closes the contexts of tabs that are gone, freeing their memory. */
  async reap(): Promise<void> {
    for (const c of this.#dead.splice(0)) await c.close().catch(() => {});
  }

  readonly #dead: BrowserContext[] = [];

  async close(): Promise<void> {
    for (const a of [...this.agents]) await this.killAgent(a);
    await this.browser.close().catch(() => {});
    await this.server.close();
  }
}

/** Adds COOP/COEP to the app's document responses (all else is same-origin, so COEP allows it). */
async function isolate(context: BrowserContext): Promise<void> {
  const isDocument = (url: URL): boolean => url.pathname === '/' || url.pathname === '/index.html';
  await context.route(isDocument, async (route) => {
    try {
      const response = await route.fetch();
      await route.fulfill({
        response,
        headers: {
          ...response.headers(),
          'cross-origin-opener-policy': 'same-origin',
          'cross-origin-embedder-policy': 'require-corp',
        },
      });
    } catch {
      await route.abort().catch(() => {}); // the context closed mid-request
    }
  });
}

/** Waits for `wos.ready` in a page navigated to WOS; returns its node id. */
export async function waitReady(page: Page, timeoutMs = 20_000): Promise<string> {
  await page.waitForFunction(
    () => window.__bench?.readyAt !== undefined || window.__bench?.readyError !== undefined,
    undefined,
    { timeout: timeoutMs, polling: 20 },
  );
  const err = await page.evaluate(() => window.__bench.readyError);
  if (err) throw new Error(`wos.ready rejected: ${err}`);
  return page.evaluate(() => window.wos.node.id);
}

export function idsOf(page: Page): Promise<string[]> {
  return page.evaluate(() => window.wos.nodes().map((n) => n.id));
}

export function probeOf(page: Page): Promise<PageProbe> {
  return page.evaluate(() => window.__bench);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
