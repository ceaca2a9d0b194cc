import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  inviteOf,
  launchBrowser,
  nodeIds,
  openNode,
  sameSet,
  selfId,
  startServer,
  waitUntil,
} from './fixtures.ts';

/** A bus round trip from `page` to `peer`, through the tab's own node. */
async function busPing(page: Page, peer: string): Promise<number> {
  return page.evaluate(async (p) => (await window.__wosApp.started).node.rtt.ping(p, 3000), peer);
}

describe('signaling server restart', () => {
  let server: WosServer;
  let browser: Browser;
  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('keeps existing channels while the server is away and admits new tabs once it is back', async () => {
    const a = await openNode(await browser.newContext(), server.url);
    const invite = await inviteOf(a);
    const b = await openNode(await browser.newContext(), invite);
    const [ida, idb] = [await selfId(a), await selfId(b)];
    await waitUntil('a and b linked', async () => sameSet(await nodeIds(a), [ida, idb]), 5000);
    const port = server.port;

    await server.close();
    await waitUntil(
      'tabs to notice the server is gone',
      () =>
        a.evaluate(
          () => document.querySelector('[data-testid=status]')?.textContent?.trim() === 'offline',
        ),
      20_000,
    );
    // The data channel between a and b does not need the server.
    expect(await busPing(a, idb)).toBeGreaterThan(0);
    expect(await busPing(b, ida)).toBeGreaterThan(0);
    expect(sameSet(await nodeIds(b), [ida, idb])).toBe(true);

    server = await startServer(port);
    await waitUntil(
      'tabs to reconnect',
      () =>
        a.evaluate(
          () => document.querySelector('[data-testid=status]')?.textContent?.trim() === 'online',
        ),
      15_000,
    );
    const c = await openNode(await browser.newContext(), invite);
    const idc = await selfId(c);
    const all = [ida, idb, idc];
    await waitUntil(
      'all three see each other after the restart',
      async () => {
        for (const p of [a, b, c]) if (!sameSet(await nodeIds(p), all)) return false;
        return true;
      },
      5000,
    );
    expect(await busPing(c, ida)).toBeGreaterThan(0);
  });
});
