import { waitUntil } from '../test/e2e/fixtures.ts';
import { bytesSentTo, startUploads } from './lib/bus-page.ts';
import { probeOf, type Agent, type Harness, type Tab } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Failure detection in a mesh of 3 tabs and 1 agent, each run:
 * - close: a 4th tab joins, the mesh settles (5 s, past the join's RTT and 2 MiB throughput
 *   probes), then it closes like a user closes it (`beforeunload`, `pagehide`: the goodbye
 *   path); time until it has vanished from every other member's view;
 * - close mid-upload: the same, but closed while it uploads to every other member (8 × 192 KiB
 *   bus requests in flight per link, once each link has carried 1 MiB): a user closing a tab
 *   while a file is being spread over the mesh;
 * - crash: a 4th tab joins, settles (5 s), then its renderer is crashed (CDP `Page.crash`: no
 *   goodbye); time until it has vanished everywhere (heartbeat timeout);
 * - coordinator: the coordinator is crashed (a tab by `Page.crash`, the agent by SIGKILL); time
 *   until every surviving tab agrees on one new coordinator, and until it vanished everywhere.
 *   The agent does not expose its coordinator, so agreement is read from the tabs.
 * Start times are taken in this process just before the action; end times are recorded in the
 * pages as they happen (epoch ms on the same clock).
 */
export interface FailureRun {
  closeMs: number;
  /** The same, split: the slowest tab, and the agent. */
  close: Vanish;
  closeBusyMs: number;
  closeBusy: Vanish;
  crashMs: number;
  crash: Vanish;
  coordElectedMs: number;
  coordVanishedMs: number;
  coordKind: 'tab' | 'agent';
}

export interface Vanish {
  ms: number;
  tabsMs: number;
  agentMs: number | undefined;
}

export interface FailureResult {
  name: 'failure-detection';
  close: Stat;
  closeBusy: Stat;
  crash: Stat;
  coordinatorElected: Stat;
  coordinatorVanished: Stat;
  details: FailureRun[];
}

const TIMEOUT = 15_000;
const SETTLED_MS = 5000;
const MiB = 1024 * 1024;

export async function runFailureBench(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<FailureResult> {
  if (h.tabs.length === 0) await h.openTab(h.url);
  if (h.agents.length === 0) await h.startAgent();
  while (h.tabs.length < 3) await h.openTab(await h.invite());
  await h.settle();
  const details: FailureRun[] = [];
  for (let r = 0; r < runs; r++) {
    const close = await leaveOnce(h, 'close', SETTLED_MS);
    const busy = await leaveOnce(h, 'close-busy', SETTLED_MS);
    const crash = await leaveOnce(h, 'crash', SETTLED_MS);
    const c = await coordinatorOnce(h);
    const run: FailureRun = {
      closeMs: close.ms,
      close,
      closeBusyMs: busy.ms,
      closeBusy: busy,
      crashMs: crash.ms,
      crash,
      ...c,
    };
    details.push(run);
    log(
      `failure ${r + 1}/${runs}: closed tab gone in ${close.ms} ms (tabs ${close.tabsMs}, agent ` +
        `${close.agentMs}), closed mid-upload in ${busy.ms} ms (tabs ${busy.tabsMs}, agent ${busy.agentMs}), crashed tab in ${crash.ms} ms (tabs ${crash.tabsMs}, agent ` +
        `${crash.agentMs}); ` +
        `${c.coordKind} coordinator crashed: new one agreed after ${c.coordElectedMs} ms, ` +
        `gone after ${c.coordVanishedMs} ms`,
    );
  }
  const s = (pick: (r: FailureRun) => number): Stat => stat('ms', details.map(pick), 0);
  return {
    name: 'failure-detection',
    close: s((r) => r.closeMs),
    closeBusy: s((r) => r.closeBusyMs),
    crash: s((r) => r.crashMs),
    coordinatorElected: s((r) => r.coordElectedMs),
    coordinatorVanished: s((r) => r.coordVanishedMs),
    details,
  };
}

/** A 4th tab joins, `quietMs` later closes or crashes; ms until every other member dropped it. */
async function leaveOnce(
  h: Harness,
  how: 'close' | 'close-busy' | 'crash',
  quietMs: number,
): Promise<Vanish> {
  const extra = await h.openTab(await h.invite());
  await h.settle(10_000, quietMs);
  if (how === 'close-busy') {
    const peers = h.expectedIds().filter((id) => id !== extra.id);
    const before = await bytesSentTo(extra.page, peers);
    await startUploads(extra.page, peers, 64 * MiB);
    await waitUntil(
      'uploads to every member to be under way',
      async () => {
        const now = await bytesSentTo(extra.page, peers);
        return now.every((n, i) => n - (before[i] ?? 0) >= MiB);
      },
      TIMEOUT,
      10,
    );
  }
  const t0 = Date.now();
  if (how !== 'crash') await h.closeTab(extra);
  else await h.crashTab(extra);
  const v = await vanished(h, extra.id, t0);
  await h.reap();
  return v;
}

/** Ms from `t0` until `id` has vanished from every live tab's view and every agent's count. */
async function vanished(h: Harness, id: string, t0: number): Promise<Vanish> {
  const n = h.expectedIds().length;
  await waitUntil(
    `${id} to vanish everywhere`,
    async () => {
      for (const t of h.tabs) if ((await probeOf(t.page)).gone[id] === undefined) return false;
      return h.agents.every((a) => a.counts.some((c) => c.at >= t0 && c.count === n));
    },
    TIMEOUT,
    20,
  );
  const tabs = await Promise.all(h.tabs.map(async (t) => (await probeOf(t.page)).gone[id] ?? 0));
  const agents = h.agents.map((a) => a.counts.find((c) => c.at >= t0 && c.count === n)?.at ?? 0);
  const ms = (at: number): number => Math.round(at - t0);
  return {
    ms: ms(Math.max(...tabs, ...agents)),
    tabsMs: ms(Math.max(...tabs)),
    agentMs: agents.length > 0 ? ms(Math.max(...agents)) : undefined,
  };
}

async function coordinatorOnce(
  h: Harness,
): Promise<Pick<FailureRun, 'coordElectedMs' | 'coordVanishedMs' | 'coordKind'>> {
  const views = await Promise.all(
    h.tabs.map((t) => t.page.evaluate(() => window.wos.coordinator())),
  );
  const coord = views[0];
  if (!coord || views.some((v) => v !== coord)) {
    throw new Error(`tabs disagree on the coordinator before the crash: ${views.join(', ')}`);
  }
  const victim: Tab | Agent | undefined =
    h.tabs.find((t) => t.id === coord) ?? h.agents.find((a) => a.id === coord);
  if (!victim) throw new Error(`coordinator ${coord} is not a member the bench started`);
  const kind = 'page' in victim ? 'tab' : 'agent';
  const t0 = Date.now();
  if ('page' in victim) await h.crashTab(victim);
  else await h.killAgent(victim);
  let agreed: string | undefined;
  await waitUntil(
    'a new coordinator agreed by every tab',
    async () => {
      const cs = await Promise.all(
        h.tabs.map((t) => t.page.evaluate(() => window.wos.coordinator())),
      );
      agreed = cs[0];
      return cs.every((c) => c !== undefined && c !== coord && c === agreed);
    },
    TIMEOUT,
    20,
  );
  const electedAt = await Promise.all(
    h.tabs.map(async (t) => {
      const events = (await probeOf(t.page)).coord.filter(([at]) => at >= t0);
      return events.findLast(([, c]) => c === agreed)?.[0] ?? Date.now();
    }),
  );
  const vanishedMs = (await vanished(h, coord, t0)).ms;
  // Put the mesh back to 3 tabs and 1 agent.
  if (kind === 'tab') await h.openTab(await h.invite());
  else await h.startAgent();
  await h.settle();
  await h.reap();
  return {
    coordElectedMs: Math.round(Math.max(...electedAt) - t0),
    coordVanishedMs: vanishedMs,
    coordKind: kind,
  };
}
