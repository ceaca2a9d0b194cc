import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WosServer } from '../../signaling-server/server.ts';
import {
  inviteOf,
  launchBrowser,
  nodeIds,
  openNode,
  selfId,
  startAgent,
  startServer,
  waitUntil,
  type AgentProcess,
} from './fixtures.ts';

/** A tab meets an agent posing as a build of other protocol versions (WOS_TEST_PROTOCOL). */
describe('protocol versions between a tab and an agent of another build', () => {
  let server: WosServer;
  let browser: Browser;
  let page: Page;
  let invite = '';
  const agents: AgentProcess[] = [];

  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    page = await openNode(await browser.newContext(), server.url);
    invite = await inviteOf(page);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop('SIGKILL');
    await browser?.close();
    await server?.close();
  });

  const agentPosingAs = (range: string): AgentProcess => {
    const a = startAgent(invite, mkdtempSync(join(tmpdir(), 'wos-agent-')), {
      WOS_TEST_PROTOCOL: range,
    });
    agents.push(a);
    return a;
  };
  const versionEvents = (a: AgentProcess) =>
    a.lines.flatMap((l) => {
      try {
        const ev = JSON.parse(l) as { event?: string; outdated?: string; message?: string };
        return ev.event === 'version' ? [ev] : [];
      } catch {
        return [];
      }
    });

  it('an older agent: the tab names it in a banner, the agent is told to update', async () => {
    const old = agentPosingAs('2-2');
    const oldId = await old.id;
    const banner = page.getByTestId('version-mismatch');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.getAttribute('role')).toBe('status');
    expect(await banner.textContent()).toContain(oldId);
    expect(await banner.textContent()).toMatch(/older version of WOS/);
    await waitUntil(
      'the agent hears it is out of date',
      () => versionEvents(old).length > 0,
      10_000,
    );
    expect(versionEvents(old)[0]).toMatchObject({ outdated: 'self' });
    expect(versionEvents(old)[0]!.message).toMatch(/restart this agent/);
    expect(await nodeIds(page)).toEqual([await selfId(page)]);
  });

  it('a newer agent: the tab offers to reload itself', async () => {
    const neu = agentPosingAs('4-5');
    await neu.id;
    const prompt = page.getByTestId('outdated');
    await prompt.waitFor({ timeout: 10_000 });
    expect(await prompt.getAttribute('role')).toBe('alertdialog');
    expect(await prompt.textContent()).toMatch(/this tab is out of date/);
    await waitUntil('the agent names the tab', () => versionEvents(neu).length > 0, 10_000);
    expect(versionEvents(neu)[0]).toMatchObject({ outdated: 'peer' });
    // A tab opened while the newer agent is there meets it while joining, before the UI could
    // subscribe: the mismatch is replayed to it.
    const late = await openNode(await browser.newContext(), invite);
    await late.getByTestId('outdated').waitFor({ timeout: 10_000 });
  });

  it('an agent of an overlapping range links normally', async () => {
    const ok = agentPosingAs('2-4');
    const id = await ok.id;
    await waitUntil(
      'the tab sees the agent',
      async () => (await nodeIds(page)).includes(id),
      10_000,
    );
  });
});
