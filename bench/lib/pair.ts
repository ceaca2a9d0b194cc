import type { Harness, Tab } from './harness.ts';
import { connectRawPair } from './raw-channel.ts';

/**
 * Two tabs in separate contexts joined in one mesh (bus link between them), plus the bench's
 * own plain RTCPeerConnection pair between the same two pages.
 */
export interface TabPair {
  a: Tab;
  b: Tab;
}

export async function openPair(h: Harness): Promise<TabPair> {
  const a = await h.openTab(h.url);
  const b = await h.openTab(await h.invite());
  // settle() also waits out the join's own RTT pings and 2 MiB throughput probes.
  await h.settle(10_000, 3000);
  const direct = await a.page.evaluate(
    (peer) => window.wos.nodes().find((n) => n.id === peer)?.state,
    b.id,
  );
  if (direct !== 'direct') throw new Error(`tabs are not linked directly (state ${direct})`);
  if (h.isolated) {
    for (const t of [a, b]) {
      if (!(await t.page.evaluate(() => crossOriginIsolated))) {
        throw new Error('the page is not cross-origin isolated: timers would be 100 µs coarse');
      }
    }
  }
  await connectRawPair(a.page, b.page);
  return { a, b };
}
