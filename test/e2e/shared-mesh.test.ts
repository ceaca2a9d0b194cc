import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  launchBrowser,
  nodeIds,
  openNode,
  selfId,
  startServer,
  waitJoined,
  waitUntil,
} from './fixtures.ts';

/** Opens `link` in `page` as a fresh start (a fragment change alone does not reboot the tab). */
async function enter(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await page.reload();
  await waitJoined(page);
}

async function signedIn(browser: Browser, url: string, name: string): Promise<Page> {
  const page = await openNode(await browser.newContext(), url);
  await page.evaluate((n) => window.wos.account.create(n, { deviceName: n }), name);
  return page;
}

const errorText = async (page: Page): Promise<string> =>
  (await page.textContent('[data-testid=error]').catch(() => '')) ?? '';

describe('shared meshes in real Chromium: create, invite by link, members, remove', () => {
  let server: WosServer;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let meshLink = '';
  let bobAccount = '';

  beforeAll(async () => {
    server = await startServer(0);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('alice creates a shared mesh and invites bob (another account); both see each other', async () => {
    alice = await signedIn(browser, server.url, 'alice');
    meshLink = await alice.evaluate(async () => (await window.wos.meshes.create('Home')).link);
    expect(meshLink).toMatch(/#\/m\/[A-Za-z0-9_-]{43}&owner=[A-Za-z0-9_-]{43}$/);
    await enter(alice, meshLink);
    expect(await alice.evaluate(() => window.wos.meshes.list())).toMatchObject([
      { name: 'Home', mine: true, members: 1 },
    ]);
    // The owner makes a one-time invite in the Meshes view (copy / QR dialog).
    await alice.click('[data-testid=tab-meshes]');
    await alice.click('[data-testid=mesh-invite]');
    const invite = await alice.inputValue('[data-testid=invite-link]');
    expect(invite.startsWith(`${meshLink}&invite=`)).toBe(true);
    await alice.keyboard.press('Escape');

    bob = await signedIn(browser, server.url, 'bob');
    bobAccount = await bob.evaluate(async () => (await window.wos.account.current())!.accountKey);
    await enter(bob, invite);
    const [a, b] = [await selfId(alice), await selfId(bob)];
    await waitUntil(
      'alice and bob see each other',
      async () => (await nodeIds(alice)).includes(b) && (await nodeIds(bob)).includes(a),
      15_000,
    );
    await waitUntil(
      'bob is a member on both sides and his address bar dropped the invite',
      async () =>
        (await bob.evaluate(() => window.wos.meshes.members())).length === 2 &&
        (await alice.evaluate(() => window.wos.meshes.members())).length === 2 &&
        !(await bob.evaluate(() => location.hash)).includes('&invite='),
      10_000,
    );
    const members = await alice.evaluate(() => window.wos.meshes.members());
    expect(members.map((m) => [m.handle?.split('#')[0], m.owner])).toEqual([
      ['alice', true],
      ['bob', false],
    ]);
    expect(await bob.evaluate(() => window.wos.meshes.list())).toMatchObject([
      { name: 'Home', mine: false, members: 2 },
    ]);
    await waitUntil(
      'the Meshes view lists both members',
      async () => (await alice.locator('[data-testid=members] tbody tr').count()) === 2,
      5_000,
    );
    // The invite was for one account: bob cannot invite or remove (owner only).
    const bobInvite = await bob.evaluate(() =>
      window.wos.meshes.invite().then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? 'error',
      ),
    );
    expect(bobInvite).toBe('MEMBERS_OWNER_ONLY');
  });

  it('a third account without an invite is refused (NOT_A_MEMBER)', async () => {
    const carol = await signedIn(browser, server.url, 'carol');
    await enter(carol, meshLink);
    await waitUntil(
      'the refused tab says why',
      async () => (await errorText(carol)).includes('is not a member of the shared mesh'),
      15_000,
    );
    const c = await selfId(carol);
    expect(await nodeIds(alice)).not.toContain(c);
    expect(await nodeIds(bob)).not.toContain(c);
    expect(await nodeIds(carol)).toEqual([c]);
    await carol.context().close();
  });

  it('alice removes bob: he is disconnected, and refused after a reload', async () => {
    const b = await selfId(bob);
    const row = alice.locator(`[data-testid=members] tr[data-account="${bobAccount}"]`);
    await row.locator('[data-testid=remove]').click();
    await row.locator('[data-testid=remove-confirm]').click();
    const gone = await waitUntil(
      'bob disconnected',
      async () => !(await nodeIds(alice)).includes(b) && (await nodeIds(bob)).length === 1,
      5_000,
    );
    expect(gone).toBeLessThan(5_000);
    expect(await alice.locator('[data-testid=members] tbody tr').count()).toBe(1);

    await bob.reload();
    await waitJoined(bob);
    const b2 = await selfId(bob);
    await waitUntil(
      'bob is told he is not a member',
      async () => (await errorText(bob)).includes('is not a member of the shared mesh'),
      15_000,
    );
    expect(await nodeIds(alice)).not.toContain(b2);
    expect(await nodeIds(bob)).toEqual([b2]);
  });
});
