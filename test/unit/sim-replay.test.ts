import { describe, expect, it } from 'vitest';
import { newMeshKey } from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { startSimMesh } from '../../src/core/testing/sim-node.ts';

/**
 * A seeded simulation is a function of its seed: the same seed gives the same run, event for
 * event, so a failing seed can be replayed and debugged. Real WebCrypto runs underneath (on a
 * thread pool that finishes in any order), so this holds only because the sim's device keys come
 * from the seed and the manual clock releases WebCrypto results in the order they were started.
 */
async function run(seed: number): Promise<string> {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 3, jitterMs: 2, random: rand });
  const nodes = await startSimMesh(net, bytes, 7, { meshKey: newMeshKey(bytes) });
  const trace: unknown[] = [];
  for (let step = 0; step < 6; step++) {
    const live = nodes.filter((n) => n.node.nodes().length > 0 && n.transport.alive);
    const victim = live[Math.floor(rand() * live.length)]!;
    if (rand() < 0.5) victim.transport.crash();
    else await victim.node.close({ goodbye: true });
    await clock.advance(1000 + Math.floor(rand() * 3000));
    const survivor = nodes.find((n) => n.transport.alive)!.node;
    trace.push([survivor.nodes().map((x) => x.id), survivor.coordinator(), net.framesDelivered]);
  }
  return JSON.stringify([trace, clock.now()]);
}

describe('seeded simulations replay exactly', () => {
  it('tracked work settles in the order it started, however the real work finishes', async () => {
    const clock = new ManualClock();
    const order: string[] = [];
    const after = (ms: number, v: string): Promise<string> =>
      new Promise((r) => setTimeout(() => r(v), ms));
    const slow = clock.track(after(30, 'slow')).then((v) => order.push(v));
    const fast = clock.track(after(0, 'fast')).then((v) => order.push(v));
    const failed = clock.track(Promise.reject(new Error('boom'))).catch(() => order.push('err'));
    await clock.advance(10); // holds still until all three are released
    expect(order).toEqual(['slow', 'fast', 'err']);
    await Promise.all([slow, fast, failed]);
  });

  it('the same seed gives the same membership, coordinator and frame count at every step', async () => {
    const [a, b] = [await run(7), await run(7)];
    expect(a).toBe(b);
    expect(await run(8)).not.toBe(a);
  }, 60_000);
});
