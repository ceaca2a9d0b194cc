import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { compareTerms, type Term } from '../../src/core/election.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork, type MemoryTransport } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';

/**
 * A seeded network simulation in the style of yjs's: at least 50 nodes with random joins,
 * crashes, goodbyes, partitions and heals, checking invariants throughout and at the end.
 */
const SEED = Number(process.env.WOS_SIM_SEED ?? 20261126);

interface Sim {
  node: MeshNode;
  transport: MemoryTransport;
  state: 'live' | 'crashed' | 'left';
  handled: Map<string, number>;
  terms: Term[];
}

describe(`seeded simulation (seed ${SEED})`, () => {
  it('50+ nodes with churn and partitions converge, with fenced terms and no double handling', async () => {
    const clock = new ManualClock();
    const rand = seededRandom(SEED);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 3, jitterMs: 4, random: rand });
    const meshKey = newMeshKey(bytes);
    const sims: Sim[] = [];
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const live = (): Sim[] => sims.filter((s) => s.state === 'live');
    let sent = 0;

    const spawn = async (): Promise<void> => {
      const { node, transport } = await createSimNode(net, bytes, { meshKey });
      const sim: Sim = { node, transport, state: 'live', handled: new Map(), terms: [] };
      node.bus.handle('sim.msg', v.strictObject({ k: v.string() }), (m) => {
        sim.handled.set(m.body.k, (sim.handled.get(m.body.k) ?? 0) + 1);
      });
      // Fencing: the registry's term only ever moves forward on each node.
      node.registry.on('change', () => {
        const t = node.election.term;
        if (t) sim.terms.push(t);
      });
      sims.push(sim);
      void node.start().catch(() => {});
    };

    for (let i = 0; i < 30; i++) {
      await spawn();
      await clock.advance(20);
    }
    await clock.advance(3000);

    let partitioned = false;
    for (let step = 0; step < 80; step++) {
      const r = rand();
      const alive = live();
      if (r < 0.3 && sims.length < 60) await spawn();
      else if (r < 0.42 && alive.length > 20) {
        const s = pick(alive);
        s.state = 'crashed';
        s.transport.crash();
      } else if (r < 0.52 && alive.length > 20) {
        const s = pick(alive);
        s.state = 'left';
        void s.node.close({ goodbye: true });
      } else if (r < 0.6 && !partitioned) {
        const ids = alive.map((s) => s.node.id);
        const cut = Math.floor(ids.length * (0.2 + rand() * 0.3));
        net.partition([ids.slice(0, cut), ids.slice(cut)]);
        partitioned = true;
      } else if (r < 0.72 && partitioned) {
        net.heal();
        partitioned = false;
      }
      // Application traffic, direct or relayed, to check "handled at most once".
      for (let j = 0; j < 5; j++) {
        const from = pick(live());
        const to = pick(live());
        from.node.bus.send(to.node.id, 'sim.msg', { k: `m${++sent}` }).catch(() => {});
      }
      await clock.advance(500);
    }
    while (sims.length < 50) await spawn();
    net.heal();
    await clock.advance(20_000);

    expect(sims.length).toBeGreaterThanOrEqual(50);
    const alive = live();
    const liveIds = alive.map((s) => s.node.id).sort();
    const coordinators = new Set<string | undefined>();
    const terms = new Set<string>();
    for (const s of alive) {
      // Same membership everywhere.
      expect(s.node.nodes().map((n) => n.id)).toEqual(liveIds);
      coordinators.add(s.node.coordinator());
      terms.add(JSON.stringify(s.node.election.term));
      // Same registry everywhere, holding every live node's latest resources.
      const view = s.node.registry.view();
      expect([...view.keys()].sort()).toEqual(liveIds);
      for (const o of alive) expect(view.get(o.node.id)?.ver).toBe(o.node.registry.local?.ver);
      // No message handled twice.
      for (const [k, n] of s.handled) expect(n, `message ${k} on ${s.node.id}`).toBe(1);
      // Terms seen by each node never went backwards.
      for (let i = 1; i < s.terms.length; i++) {
        expect(compareTerms(s.terms[i], s.terms[i - 1])).toBeGreaterThanOrEqual(0);
      }
    }
    expect(coordinators.size).toBe(1);
    expect(liveIds).toContain([...coordinators][0]);
    expect(terms.size).toBe(1);
    // At most one coordinator per term: every term was held by exactly the node it names.
    const held = new Map<string, string[]>();
    for (const s of sims) {
      for (const t of s.node.election.heldTerms) {
        const key = `${t.n}/${t.by}`;
        held.set(key, [...(held.get(key) ?? []), s.node.id]);
      }
    }
    for (const [key, holders] of held) {
      expect(holders, key).toHaveLength(1);
      expect(key.endsWith(`/${holders[0]}`)).toBe(true);
    }
    const delivered = alive.reduce((n, s) => n + s.handled.size, 0);
    expect(delivered).toBeGreaterThan(sent * 0.3);
  }, 300_000);
});
