import { describe, expect, it } from 'vitest';
import { compareTerms } from '../../src/core/election.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, startSimMesh } from '../../src/core/testing/sim-node.ts';
import { defaultMembershipOptions } from '../../src/core/membership.ts';

describe('coordinator election and fencing', () => {
  it('each side of a partition elects; after heal the higher term wins and the stale one is fenced', async () => {
    const clock = new ManualClock();
    const rand = seededRandom(11);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 2, random: rand });
    const meshKey = newMeshKey(bytes);
    const nodes: MeshNode[] = [];
    for (let i = 0; i < 5; i++) {
      const { node } = await createSimNode(net, bytes, { meshKey });
      void node.start();
      nodes.push(node);
      await clock.advance(30);
    }
    await clock.advance(3000);
    const first = nodes[0]!.coordinator()!;
    expect(nodes.every((n) => n.coordinator() === first)).toBe(true);

    // Isolate the coordinator with one other node.
    const side = [first, nodes.find((n) => n.id !== first)!.id];
    const rest = nodes.filter((n) => !side.includes(n.id)).map((n) => n.id);
    net.partition([side, rest]);
    await clock.advance(12_000);
    const majority = nodes.filter((n) => rest.includes(n.id));
    const second = majority[0]!.coordinator()!;
    expect(rest).toContain(second);
    expect(majority.every((n) => n.coordinator() === second)).toBe(true);
    const staleNode = nodes.find((n) => n.id === first)!;
    const staleTerm = staleNode.election.term!;
    expect(staleNode.election.isCoordinator).toBe(true);
    expect(compareTerms(majority[0]!.election.term, staleTerm)).toBeGreaterThan(0);

    net.heal();
    await clock.advance(15_000);
    const finalCoord = nodes[0]!.coordinator();
    expect(nodes.every((n) => n.coordinator() === finalCoord)).toBe(true);
    expect(staleNode.election.isCoordinator).toBe(finalCoord === staleNode.id);
    for (const n of nodes) expect(n.nodes()).toHaveLength(5);

    // A registry snapshot stamped with the old term is refused everywhere.
    const victim = majority[0]!;
    const before = victim.registry.fenced;
    const view = victim.registry.view();
    await staleNode.bus.send(victim.id, 'reg.snap', { term: staleTerm, seq: 10_000, entries: [] });
    await clock.advance(50);
    expect(victim.registry.fenced).toBe(before + 1);
    expect(victim.registry.view()).toBe(view);
  });
});

describe('replacing a crashed coordinator', () => {
  it('every survivor names the same new coordinator within failAfterMs + 1.5 s of the crash, whatever the tick phase', async () => {
    const times: number[] = [];
    for (const [seed, phase] of [
      [21, 0],
      [22, 120],
      [23, 250],
      [24, 380],
      [25, 460],
      [26, 60],
    ] as const) {
      const clock = new ManualClock();
      const rand = seededRandom(seed);
      const bytes = seededBytes(rand);
      const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
      const meshKey = newMeshKey(bytes);
      const made = await startSimMesh(net, bytes, 4, { meshKey }, { settleMs: 4000 + phase });
      const coord = made[0]!.node.coordinator()!;
      expect(made.every((m) => m.node.coordinator() === coord)).toBe(true);
      const victim = made.find((m) => m.node.id === coord)!;
      victim.transport.crash();
      const survivors = made.filter((m) => m !== victim).map((m) => m.node);
      let t = 0;
      for (; t < 8000; t += 50) {
        const cs = survivors.map((n) => n.coordinator());
        if (cs.every((c) => c !== undefined && c !== coord && c === cs[0])) break;
        await clock.advance(50);
      }
      times.push(t);
    }
    const { failAfterMs } = defaultMembershipOptions;
    expect(Math.max(...times), `elected after ${times.join(', ')} ms`).toBeLessThanOrEqual(
      failAfterMs + 1500,
    );
  });

  it('a member cannot end coordination with a term past the safe integers or naming a stranger', async () => {
    const clock = new ManualClock();
    const rand = seededRandom(7);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
    const nodes = await startSimMesh(net, bytes, 4, { meshKey: newMeshKey(bytes) });
    await clock.advance(3000);
    const attacker = nodes.find((n) => !n.node.election.isCoordinator)!;
    const honest = nodes.filter((n) => n !== attacker);
    const n0 = honest[0]!.node.election.term!.n;
    const forged = [
      { n: Number.MAX_VALUE, by: attacker.node.id }, // n + 1 === n: no campaign could beat it
      { n: n0 + 5, by: 'zzzzzzzzzzzzzzzz-zzzzzzzz' }, // a node that is not here
    ];
    for (const t of forged)
      for (const n of honest) await attacker.node.bus.send(n.node.id, 'coord', t).catch(() => {});
    await clock.advance(1000);
    for (const n of honest) expect(n.node.election.term!.n).toBeLessThan(n0 + 5);
    // The attacker leaves; the others still agree on a coordinator among themselves.
    await attacker.node.close({ goodbye: true });
    await clock.advance(15_000);
    const c = honest[0]!.node.coordinator();
    expect(honest.map((n) => n.node.id)).toContain(c);
    expect(honest.every((n) => n.node.coordinator() === c)).toBe(true);
  });
});
