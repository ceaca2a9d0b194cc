import { waitUntil } from '../test/e2e/fixtures.ts';
import { probeOf, waitReady, type Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Join: a mesh of 2 tabs and 1 agent; a 4th node, a tab in a fresh profile (new device key, no
 * cache, no service worker), navigates to the invite link. Measured from its navigation start
 * (`performance.timeOrigin`): when `wos.ready` resolves, and when it appears in every other
 * member's `wos.nodes()` (each tab records the moment in-page; the agent by its `nodes` log
 * line). Between runs the joiner closes (goodbye) and the mesh settles back to 3.
 */
export interface JoinRun {
  readyMs: number;
  /** Until it is in every other member's view (tabs and agent). */
  visibleMs: number;
  visibleTabsMs: number;
  visibleAgentMs: number;
  /** Until the joiner itself sees every member. */
  seesAllMs: number;
}

export interface JoinResult {
  name: 'join';
  members: number;
  ready: Stat;
  visible: Stat;
  visibleTabs: Stat;
  visibleAgent: Stat;
  seesAll: Stat;
  details: JoinRun[];
}

export async function runJoinBench(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<JoinResult> {
  await h.openTab(h.url);
  await h.startAgent();
  await h.openTab(await h.invite());
  await h.settle();
  const invite = await h.invite();
  const details: JoinRun[] = [];
  for (let r = 0; r < runs; r++) {
    const run = await joinOnce(h, invite);
    details.push(run);
    log(
      `join ${r + 1}/${runs}: ready ${run.readyMs} ms, visible everywhere ${run.visibleMs} ms ` +
        `(tabs ${run.visibleTabsMs}, agent ${run.visibleAgentMs}), sees all ${run.seesAllMs} ms`,
    );
  }
  const s = (pick: (r: JoinRun) => number): Stat => stat('ms', details.map(pick), 0);
  return {
    name: 'join',
    members: 4,
    ready: s((r) => r.readyMs),
    visible: s((r) => r.visibleMs),
    visibleTabs: s((r) => r.visibleTabsMs),
    visibleAgent: s((r) => r.visibleAgentMs),
    seesAll: s((r) => r.seesAllMs),
    details,
  };
}

async function joinOnce(h: Harness, invite: string): Promise<JoinRun> {
  const peers = [...h.tabs];
  const agent = h.agents[0];
  if (!agent) throw new Error('join bench needs an agent');
  const peerIds = h.expectedIds();
  const total = peerIds.length + 1;
  const { context, page } = await h.blankPage();
  const before = Date.now();
  await page.goto(invite);
  const id = await waitReady(page);
  const navStart = await page.evaluate(() => performance.timeOrigin);
  if (navStart < before - 50)
    throw new Error(`clock mismatch: navigation ${before - navStart} ms early`);
  await waitUntil(
    'the joiner to be visible to every member and to see them all',
    async () => {
      for (const p of peers) if ((await probeOf(p.page)).seen[id] === undefined) return false;
      const own = await probeOf(page);
      return (
        peerIds.every((pid) => own.seen[pid] !== undefined) &&
        agent.counts.some((c) => c.at >= before && c.count === total)
      );
    },
    15_000,
    20,
  );
  const tabTimes = await Promise.all(peers.map(async (p) => (await probeOf(p.page)).seen[id] ?? 0));
  const agentAt = agent.counts.find((c) => c.at >= before && c.count === total)?.at ?? 0;
  const own = await probeOf(page);
  const run: JoinRun = {
    readyMs: (own.readyAt ?? 0) - navStart,
    visibleTabsMs: Math.max(...tabTimes) - navStart,
    visibleAgentMs: agentAt - navStart,
    visibleMs: Math.max(agentAt, ...tabTimes) - navStart,
    seesAllMs: Math.max(...peerIds.map((pid) => own.seen[pid] ?? 0)) - navStart,
  };
  for (const k of Object.keys(run) as (keyof JoinRun)[]) run[k] = Math.round(run[k]);
  // Leave again (goodbye) and let the mesh settle back to its 3 members.
  const tab = { context, page, id };
  await h.closeTab(tab);
  await h.settle();
  await h.reap();
  return run;
}
