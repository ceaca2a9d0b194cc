import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  enterPersonal,
  waitJoined,
  launchBrowser,
  nodeIds,
  openNode,
  selfId,
  startServer,
  waitUntil,
} from './fixtures.ts';

/**
 * Pairing through the UI, each device its own browser profile: the new device shows a link,
 * the enrolled device opens it, both show the same words, the user approves on the enrolled
 * one, and the new device is enrolled and joins the personal mesh.
 */
describe('pairing a new device in real Chromium', () => {
  let server: WosServer;
  let browser: Browser;
  let one: Page;
  let handle: string;

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    one = await openNode(await browser.newContext(), server.url);
    handle = await one.evaluate(async () => (await window.wos.account.create('alice')).handle);
    await enterPersonal(one);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function startGuest(): Promise<{ two: Page; link: string }> {
    const two = await openNode(await browser.newContext(), server.url);
    await two.getByRole('tab', { name: 'Account' }).click();
    await two.getByTestId('pair-start').click();
    const link = (await two.getByTestId('pair-link').textContent())!;
    expect(link).toMatch(/#\/pair\/[A-Za-z0-9_-]{43}$/);
    return { two, link };
  }

  it('approved when the words match: the new device is enrolled with the handle and joins the personal mesh', async () => {
    const { two, link } = await startGuest();
    const host = await one.context().newPage();
    await host.goto(link);
    await host.getByTestId('pair-host').and(host.locator('[data-phase="compare"]')).waitFor();
    const hostWords = await host.getByTestId('pair-words').textContent();
    await two.getByTestId('pair-words').waitFor();
    const guestWords = await two.getByTestId('pair-words').textContent();
    expect(hostWords?.split(' ')).toHaveLength(5);
    expect(guestWords).toBe(hostWords);
    await host.getByRole('button', { name: /approve/ }).click();
    await host.locator('[data-phase="done"]').waitFor();

    // The new device reloads itself into the personal mesh.
    await two.waitForURL(/#\/me$/);
    await waitJoined(two);
    const info = await two.evaluate(() => window.wos.account.current());
    expect(info?.handle).toBe(handle);
    const accountOne = await one.evaluate(
      async () => (await window.wos.account.current())?.accountKey,
    );
    expect(info?.accountKey).toBe(accountOne);
    expect(await two.evaluate(() => window.wos.mesh.id)).toBe(
      await one.evaluate(() => window.wos.mesh.id),
    );
    const twoId = await selfId(two);
    await waitUntil(
      'device 1 to see device 2',
      async () => (await nodeIds(one)).includes(twoId),
      10_000,
    );
    await host.close();
  });

  it('rejected when they differ: the new device is told, and stays signed out', async () => {
    const { two, link } = await startGuest();
    const host = await one.context().newPage();
    await host.goto(link);
    await host.locator('[data-phase="compare"]').waitFor();
    await host.getByRole('button', { name: /reject/ }).click();
    await host.locator('[data-phase="rejected"]').waitFor();
    await expect
      .poll(async () => two.getByRole('alert').textContent(), { timeout: 10_000 })
      .toMatch(/PAIRING_CANCELLED/);
    expect(await two.evaluate(() => window.wos.account.current())).toBeNull();
    await host.close();
  });

  it('the other device closes at the words: the new device is told, and stays signed out', async () => {
    const { two, link } = await startGuest();
    const host = await one.context().newPage();
    await host.goto(link);
    await host.locator('[data-phase="compare"]').waitFor();
    await two.getByTestId('pair-words').waitFor();
    await host.close({ runBeforeUnload: true });
    await expect
      .poll(async () => two.getByRole('alert').textContent(), { timeout: 10_000 })
      .toMatch(/left before approving.*PAIRING_HOST_LEFT/s);
    expect(await two.evaluate(() => window.wos.account.current())).toBeNull();
  });

  it('a profile without the account cannot approve', async () => {
    const { link } = await startGuest();
    const stranger = await (await browser.newContext()).newPage();
    await stranger.goto(link);
    await stranger.locator('[data-phase="failed"]').waitFor();
    expect(await stranger.getByRole('alert').textContent()).toMatch(
      /not signed in.*PAIRING_STATE/s,
    );
  });
});
