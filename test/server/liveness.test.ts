import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, meshId, PeerClient, postJson, sleep, startServer, until } from './helpers.ts';

afterEach(closeAll);

async function peersOf(base: string, mesh: string): Promise<string[]> {
  const res = await fetch(`${base}/api/mesh/${mesh}/peers`);
  return ((await res.json()) as { peers: string[] }).peers;
}

describe('liveness and membership lifetime', () => {
  it('drops a member from every mesh when its socket closes', async () => {
    const s = await startServer();
    const m1 = meshId('one');
    const m2 = meshId('two');
    const a = await PeerClient.connect(s, 'gina');
    await PeerClient.connect(s, 'hank');
    for (const m of [m1, m2]) {
      expect(
        (await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'gina', token: a.token })).status,
      ).toBe(200);
    }
    await postJson(s.base, `/api/mesh/${m1}/join`, { peerId: 'hank', token: 'tok-hank' });
    expect((await peersOf(s.base, m1)).sort()).toEqual(['gina', 'hank']);
    expect(s.metrics().memberships).toBe(3);

    await a.close();
    await until(async () => (await peersOf(s.base, m1)).length === 1, 2000, 'gina dropped');
    expect(await peersOf(s.base, m1)).toEqual(['hank']);
    expect(await peersOf(s.base, m2)).toEqual([]);
    expect(s.metrics().meshes).toBe(1);
    expect(s.metrics().peers).toBe(1);
  });

  it('times out a silent client (no heartbeat, no pong) and drops it', async () => {
    const s = await startServer({ aliveTimeoutMs: 600 });
    const m = meshId('timeout');
    const silent = await PeerClient.connect(s, 'silent', 'tok-silent', { ws: { autoPong: false } });
    await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'silent', token: 'tok-silent' });
    expect(await peersOf(s.base, m)).toEqual(['silent']);
    const t0 = Date.now();
    await silent.closed;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await peersOf(s.base, m)).toEqual([]);
    expect(s.metrics().peers).toBe(0);
  });

  it('keeps a client alive by PeerJS HEARTBEAT messages alone', async () => {
    const s = await startServer({ aliveTimeoutMs: 600 });
    const c = await PeerClient.connect(s, 'beating', 'tok-b', { ws: { autoPong: false } });
    const timer = setInterval(() => c.send({ type: 'HEARTBEAT' }), 150);
    await sleep(1500);
    clearInterval(timer);
    expect(c.closeCode).toBeUndefined();
    expect(s.metrics().peers).toBe(1);
  });

  it('keeps a client alive by websocket pongs (timer-throttled background tabs)', async () => {
    const s = await startServer({ aliveTimeoutMs: 600 });
    const c = await PeerClient.connect(s, 'ponger');
    await sleep(1500);
    expect(c.closeCode).toBeUndefined();
    expect(s.metrics().peers).toBe(1);
  });
});
