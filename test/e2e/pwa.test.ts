import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import { launchBrowser, openNode, startServer } from './fixtures.ts';

describe('installable app shell', () => {
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

  it('has a manifest with 192, 512 and maskable icons', async () => {
    const res = await fetch(new URL('/manifest.webmanifest', server.url));
    expect(res.ok).toBe(true);
    const m = (await res.json()) as { icons: { sizes: string; purpose?: string; src: string }[] };
    expect(m.icons.map((i) => i.sizes)).toEqual(expect.arrayContaining(['192x192', '512x512']));
    expect(m.icons.some((i) => i.purpose === 'maskable')).toBe(true);
    for (const i of m.icons) {
      const icon = await fetch(new URL(i.src, server.url));
      expect(icon.headers.get('content-type')).toMatch(/image\/png/);
    }
  });

  it('loads the app shell offline after the first visit, with a clear message', async () => {
    const ctx = await browser.newContext();
    const page = await openNode(ctx, server.url);
    await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      return reg.active?.state;
    });
    await page.getByTestId('offline-ready').waitFor({ timeout: 10_000 });
    const port = server.port;
    await server.close();
    // Nothing answers on the port any more: only the service worker can serve the shell.
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
    await page.reload();
    await page.getByRole('heading', { name: 'WOS' }).waitFor({ timeout: 10_000 });
    const alert = page.getByTestId('error');
    await alert.waitFor({ timeout: 10_000 });
    expect(await alert.textContent()).toMatch(/cannot reach the WOS server/);
    server = await startServer(port);
  });
});
