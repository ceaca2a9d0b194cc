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

describe('peers that do not belong or misbehave', () => {
  let server: WosServer;
  let browser: Browser;
  let a: Page;
  let b: Page;
  let c: Page;
  let ids: string[];
  beforeAll(async () => {
    server = await startServer();
    browser = await launchBrowser();
    a = await openNode(await browser.newContext(), server.url);
    const invite = await inviteOf(a);
    b = await openNode(await browser.newContext(), invite);
    c = await openNode(await browser.newContext(), invite);
    ids = await Promise.all([a, b, c].map(selfId));
    await waitUntil(
      '3-node mesh',
      async () => {
        for (const p of [a, b, c]) if (!sameSet(await nodeIds(p), ids)) return false;
        return true;
      },
      5000,
    );
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('refuses a tab that knows the mesh id but not the mesh key', async () => {
    const meshId = await a.evaluate(() => window.wos.mesh.id);
    const wrongKey = 'x'.repeat(43);
    const intruder = await (await browser.newContext()).newPage();
    await intruder.goto(`${server.url}#/m/${wrongKey}&dir=${meshId}`);
    await intruder.waitForFunction(() => window.wos !== undefined);
    await intruder.evaluate(() => window.wos.ready);
    const alert = intruder.getByTestId('error');
    await alert.waitFor({ timeout: 5000 });
    expect(await alert.textContent()).toMatch(/does not hold this mesh's key/);
    const intruderId = await selfId(intruder);
    expect(await nodeIds(intruder)).toEqual([intruderId]);
    for (const p of [a, b, c]) expect(await nodeIds(p)).not.toContain(intruderId);
    const failures = await a.evaluate(
      async () => (await window.__wosApp.started).node.stats.handshakeFailures,
    );
    expect(failures['MESH_KEY_MISMATCH']).toBeGreaterThanOrEqual(1);
    await intruder.close();
  });

  it('rejects and counts garbage and oversized messages from a member, and the mesh carries on', async () => {
    const [ida, idb] = [ids[0]!, ids[1]!];
    // Tab a turns hostile: it writes raw frames straight onto its data channel to b.
    await a.evaluate(async (target) => {
      const { node } = await window.__wosApp.started;
      const ch = node.bus.link(target)!.framed.channel;
      const enc = new TextEncoder();
      const packet = (header: unknown): Uint8Array => {
        const h = enc.encode(JSON.stringify(header));
        const out = new Uint8Array(6 + h.length);
        out[0] = 0; // framing: whole message
        out[1] = 1; // wire version
        new DataView(out.buffer).setUint32(2, h.length);
        out.set(h, 6);
        return out;
      };
      const me = node.id;
      await ch.send(new Uint8Array([9, 1, 2, 3])); // unknown frame flag
      await ch.send(new Uint8Array([0, 1, 0, 0, 0, 5, 123, 123, 123, 0, 0])); // header not JSON
      await ch.send(new Uint8Array([0, 7, 0, 0, 0, 0])); // unknown wire version
      await ch.send(packet({ id: `${me}/x1`, t: 'no-such-type', f: me, to: target, ttl: 1 }));
      await ch.send(
        packet({ id: `${me}/x2`, t: 'gossip', f: me, to: target, ttl: 1, b: { m: 'lots' } }),
      );
      await ch.send(
        packet({
          id: `${me}/x3`,
          t: 'gossip',
          f: 'aaaaaaaaaaaaaaaa-bbbbbbbb',
          to: '*',
          ttl: 0,
          b: { m: [], gone: [] },
        }),
      );
      await ch.send(packet({ nope: true }));
      // A split message announcing 64 MiB: refused before anything is buffered.
      const first = new Uint8Array(1 + 4 + 1000);
      first[0] = 1;
      new DataView(first.buffer).setUint32(1, 64 * 1024 * 1024);
      await ch.send(first);
      const more = new Uint8Array(200_001);
      more[0] = 2;
      for (let i = 0; i < 5; i++) await ch.send(more);
      const last = new Uint8Array(1001);
      last[0] = 3;
      await ch.send(last);
    }, idb);

    const rejected = await waitUntil(
      'b to count every bad message',
      async () => {
        const r = await b.evaluate(
          async () => (await window.__wosApp.started).node.bus.stats.rejected,
        );
        return (
          (r['bad-frame'] ?? 0) >= 1 &&
          (r['invalid'] ?? 0) >= 4 &&
          (r['unknown-type'] ?? 0) >= 1 &&
          (r['spoofed'] ?? 0) >= 1 &&
          (r['oversized'] ?? 0) >= 1
        );
      },
      5000,
    );
    expect(rejected).toBeLessThan(5000);
    const from = await b.evaluate(
      async (x) => (await window.__wosApp.started).node.stats.rejectedFrom[x],
      ida,
    );
    expect(from).toBeGreaterThanOrEqual(8);
    // Nobody else was disturbed: the link a-b still works, and so does everything else.
    for (const [p, peer] of [
      [a, idb],
      [b, ida],
      [c, ida],
      [b, ids[2]!],
    ] as const) {
      expect(
        await p.evaluate(async (x) => (await window.__wosApp.started).node.rtt.ping(x, 3000), peer),
      ).toBeGreaterThan(0);
    }
    for (const p of [a, b, c]) expect(sameSet(await nodeIds(p), ids)).toBe(true);
  });
});
