import { describe, expect, it } from 'vitest';
import { signGoodbye } from '../../src/core/goodbye.ts';
import { generateDeviceKeyPair, identityFromKeyPair, newMeshKey } from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { startSimMesh } from '../../src/core/testing/sim-node.ts';

async function mesh(seed: number) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const nodes = await startSimMesh(net, bytes, 4, { meshKey: newMeshKey(bytes) });
  const sees = (n: (typeof nodes)[number], id: string): boolean =>
    n.node.nodes().some((x) => x.id === id);
  return { clock, net, nodes, sees };
}

describe('goodbye through the signaling server', () => {
  it('a closing node whose links carry nothing more is dropped everywhere at once', async () => {
    const { clock, net, nodes, sees } = await mesh(31);
    const [leaving, ...rest] = nodes;
    const id = leaving!.node.id;
    expect(rest.every((n) => sees(n, id))).toBe(true);
    // Its links lose everything from now on (the bye on them too), as a page torn down mid-send.
    net.partition([[id], rest.map((n) => n.node.id)]);
    void leaving!.node.close({ goodbye: true });
    await clock.advance(20); // far below the 300 ms suspicion and the 2.5 s heartbeat timeout
    expect(rest.filter((n) => sees(n, id))).toEqual([]);
    expect(rest.every((n) => n.node.stats.goodbyesViaServer === 1)).toBe(true);
  });

  it('a forged or foreign goodbye is ignored: the member stays', async () => {
    const { clock, nodes, sees } = await mesh(32);
    const [victim, target] = nodes;
    const id = victim!.node.id;
    const other = await identityFromKeyPair(
      crypto.subtle,
      await generateDeviceKeyPair(crypto.subtle),
    );
    const forged = [
      await signGoodbye(other, target!.node.meshId, id), // someone else's key
      await signGoodbye(other, target!.node.meshId, id).then((g) => ({ ...g, sig: 'AAAA' })),
      { wos: 'bye', v: 1 }, // no signature
      'LEAVE', // not an object
    ];
    for (const payload of forged) target!.transport.onGoodbye?.(id, payload);
    await clock.advance(20);
    expect(sees(target!, id)).toBe(true);
    expect(target!.node.stats.goodbyesViaServer).toBe(0);
  });
});
