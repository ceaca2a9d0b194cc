import { describe, expect, it } from 'vitest';
import { newMeshKey } from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';

describe('RTT tracker', () => {
  it('reports the link latency, not pings delayed behind bulk data, and follows a lasting change', async () => {
    const clock = new ManualClock();
    const rand = seededRandom(31);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 2, random: rand });
    const meshKey = newMeshKey(bytes);
    const a = await createSimNode(net, bytes, { meshKey });
    const b = await createSimNode(net, bytes, { meshKey });
    void a.node.start();
    void b.node.start();
    await clock.advance(3000);
    expect(a.node.bus.link(b.node.id)).toBeDefined();
    a.node.rtt.stop();
    const sample = async (): Promise<void> => {
      const done = a.node.rtt.measureAll();
      await clock.advance(1000);
      await done;
    };
    for (let i = 0; i < 5; i++) await sample();
    const idle = a.node.rtt.get(b.node.id)!;
    expect(idle).toBeGreaterThanOrEqual(4);
    expect(idle).toBeLessThan(6);
    // Three pings in a row wait behind a bulk transfer: a median would report ~300 ms.
    net.opts.latencyMs = 150;
    for (let i = 0; i < 3; i++) await sample();
    expect(a.node.rtt.get(b.node.id)).toBe(idle);
    // A lasting change shows once the window holds no faster sample.
    for (let i = 0; i < 2; i++) await sample();
    expect(a.node.rtt.get(b.node.id)).toBeGreaterThanOrEqual(300);
    await Promise.all([a.node.close(), b.node.close()]);
  });
});
