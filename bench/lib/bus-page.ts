import type { Page } from 'playwright-core';
import type { Transfer } from './raw-channel.ts';

/**
 * The bus side of the bus benchmarks, run inside a tab on its own MeshNode
 * (`(await window.__wosApp.started).node`), timed with `performance.now()`.
 */

/**
 * `n` sequential bus round trips to `peer` with the `ping` request every node serves (what
 * `node.rtt.ping` sends; timed here with `performance.now()`, since the node's clock is ms).
 */
export function busPings(page: Page, peer: string, n: number): Promise<number[]> {
  return page.evaluate(
    async ({ peer, n }) => {
      const node = (await window.__wosApp.started).node;
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await node.bus.request(peer, 'ping', {}, { timeoutMs: 2000 });
        out.push(performance.now() - t);
      }
      return out;
    },
    { peer, n },
  );
}

/**
 * Sends `bytes` of attachments to `peer` exactly as `measureThroughput` does (`probe.bulk`
 * requests of `chunk` bytes, `window` in flight), timed until the last acknowledgement.
 */
export function busStream(
  page: Page,
  peer: string,
  bytes: number,
  chunk: number,
  window: number,
): Promise<Transfer> {
  return page.evaluate(
    async ({ peer, bytes, chunk, window }) => {
      const node = (await globalThis.window.__wosApp.started).node;
      const bin = new Uint8Array(chunk);
      let sent = 0;
      const t0 = performance.now();
      const worker = async (): Promise<void> => {
        while (sent < bytes) {
          sent += chunk;
          await node.bus.request(peer, 'probe.bulk', {}, { bin, timeoutMs: 30_000 });
        }
      };
      await Promise.all(Array.from({ length: window }, worker));
      return { bytes: sent, ms: performance.now() - t0 };
    },
    { peer, bytes, chunk, window },
  );
}

/**
 * Starts (without waiting) `bytes` of `probe.bulk` attachments to each of `peers` at once, 8 in
 * flight per peer, as an upload spread over the mesh would; errors are ignored (the tab may be
 * closing).
 */
export async function startUploads(page: Page, peers: string[], bytes: number): Promise<void> {
  await page.evaluate(
    async ({ peers, bytes }) => {
      const node = (await window.__wosApp.started).node;
      const bin = new Uint8Array(192 * 1024);
      for (const peer of peers) {
        let sent = 0;
        const worker = async (): Promise<void> => {
          while (sent < bytes && !node.closed) {
            sent += bin.length;
            await node.bus.request(peer, 'probe.bulk', {}, { bin, timeoutMs: 30_000 });
          }
        };
        for (let i = 0; i < 8; i++) worker().catch(() => {});
      }
    },
    { peers, bytes },
  );
}

/** Bytes this tab's links have sent to each of `peers` so far (framed payload). */
export function bytesSentTo(page: Page, peers: string[]): Promise<number[]> {
  return page.evaluate(async (peers) => {
    const node = (await window.__wosApp.started).node;
    return peers.map((p) => node.bus.link(p)?.framed.bytesSent ?? 0);
  }, peers);
}
