import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { newMeshKey } from '../../src/core/identity.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, startSimMesh } from '../../src/core/testing/sim-node.ts';

function setup(seed = 1) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const meshKey = newMeshKey(bytes);
  return { clock, net, bytes, meshKey };
}

describe('mesh on the in-memory network', () => {
  it('three nodes join, see each other with resources, and elect one coordinator', async () => {
    const { clock, net, bytes, meshKey } = setup();
    const nodes = [];
    for (let i = 0; i < 3; i++) {
      const { node } = await createSimNode(net, bytes, { meshKey });
      void node.start();
      nodes.push(node);
      await clock.advance(100);
    }
    await clock.advance(3000);
    const ids = nodes.map((n) => n.id).sort();
    for (const n of nodes) {
      expect(n.nodes().map((x) => x.id)).toEqual(ids);
      expect(n.nodes().every((x) => x.resources?.platform === 'sim')).toBe(true);
      expect(n.nodes().every((x) => x.state === 'self' || x.state === 'direct')).toBe(true);
    }
    const coords = new Set(nodes.map((n) => n.coordinator()));
    expect(coords.size).toBe(1);
    expect(ids).toContain([...coords][0]);
  });

  it('a goodbye removes a node within 1 s; a crash within 5 s; a new coordinator takes over', async () => {
    const { clock, net, bytes, meshKey } = setup(2);
    const made = await startSimMesh(net, bytes, 4, { meshKey });
    const leaver = made[0]!;
    const closing = leaver.node.close({ goodbye: true });
    await clock.advance(1000);
    await closing;
    for (const m of made.slice(1)) {
      expect(m.node.nodes().map((n) => n.id)).not.toContain(leaver.node.id);
    }
    const rest = made.slice(1);
    // The leaver may have been the coordinator: let the rest agree on one first.
    for (let t = 0; t < 3000; t += 100) {
      const c = rest[0]!.node.coordinator();
      if (c && rest.some((m) => m.node.id === c)) break;
      await clock.advance(100);
    }
    const coord = rest[0]!.node.coordinator()!;
    expect(rest.map((m) => m.node.id)).toContain(coord);
    const victim = rest.find((m) => m.node.id === coord)!;
    victim.transport.crash();
    const survivors = rest.filter((m) => m !== victim);
    await clock.advance(5000);
    for (const m of survivors) {
      expect(m.node.nodes().map((n) => n.id)).not.toContain(coord);
      expect(m.node.coordinator()).toBeDefined();
      expect(m.node.coordinator()).not.toBe(coord);
    }
    expect(new Set(survivors.map((m) => m.node.coordinator())).size).toBe(1);
  });

  it('a node whose channels close without a goodbye is dropped within suspectMs, at any tick phase', async () => {
    // Its goodbye never makes it (e.g. stuck behind bulk data, or lost as the tab is torn
    // down); only the channels close. Neighbours' gossip still repeats its last heartbeat, which
    // must not keep it listed.
    for (const [seed, phase] of [
      [5, 0],
      [6, 130],
      [7, 260],
      [8, 390],
      [9, 470],
    ] as const) {
      const { clock, net, bytes, meshKey } = setup(seed);
      const made = await startSimMesh(net, bytes, 4, { meshKey }, { settleMs: 3000 + phase });
      const [gone, ...rest] = made as [(typeof made)[0], ...typeof made];
      const { suspectMs } = rest[0]!.node.members.options;
      gone.node.members.stop();
      gone.transport.close();
      await clock.advance(suspectMs + 50);
      for (const m of rest) {
        expect(
          m.node.nodes().map((n) => n.id),
          `seed ${seed}`,
        ).not.toContain(gone.node.id);
      }
      // The rest stay members of each other.
      await clock.advance(3000);
      for (const m of rest) expect(m.node.nodes()).toHaveLength(rest.length);
    }
  });

  it('refuses a node that does not hold the mesh key', async () => {
    const { clock, net, bytes, meshKey } = setup(3);
    const good = await createSimNode(net, bytes, { meshKey });
    void good.node.start();
    await clock.advance(100);
    const errors: string[] = [];
    const bad = await createSimNode(net, bytes, {
      meshKey: newMeshKey(bytes),
      directoryMeshId: good.node.meshId,
    });
    bad.node.on('error', (e) => errors.push(e.code));
    void bad.node.start();
    await clock.advance(2000);
    expect(errors).toContain('MESH_KEY_MISMATCH');
    expect(good.node.nodes().map((n) => n.id)).toEqual([good.node.id]);
    expect(bad.node.nodes().map((n) => n.id)).toEqual([bad.node.id]);
  });

  it('relays through a member when two nodes have no direct channel', async () => {
    const { clock, net, bytes, meshKey } = setup(4);
    const ms = [];
    for (let i = 0; i < 3; i++) {
      const m = await createSimNode(net, bytes, { meshKey });
      void m.node.start();
      ms.push(m);
      await clock.advance(50);
    }
    await clock.advance(2000);
    const [a, c] = [ms[0]!.node, ms[2]!.node];
    // Cut a<->c only: both still reach b.
    net.cut(a.id, c.id);
    expect(net.connected(a.id, c.id)).toBe(false);
    await clock.advance(10_000);
    expect(a.bus.link(c.id)).toBeUndefined();
    expect(a.nodes().find((n) => n.id === c.id)?.state).toBe('relayed');
    const rtt = a.rtt.ping(c.id);
    await clock.advance(100);
    await expect(rtt).resolves.toBeGreaterThan(0);
  });

  it('two nodes that dial each other at once keep one link and lose no request', async () => {
    for (const seed of [5, 6, 7, 8, 9, 10]) {
      const { clock, net, bytes, meshKey } = setup(seed);
      const rediscoverMs = 1000;
      const a = await createSimNode(net, bytes, { meshKey, rediscoverMs });
      const b = await createSimNode(net, bytes, { meshKey, rediscoverMs });
      // Cut before either starts: both are listed in the directory, neither can reach the
      // other, and both redial on the same tick (started together) once the cut heals.
      net.cut(a.node.id, b.node.id);
      void a.node.start();
      void b.node.start();
      // Just before the third redial tick (both started at 0).
      await clock.advance(2990);
      expect(a.node.bus.link(b.node.id)).toBeUndefined();
      for (const m of [a, b]) m.node.bus.handle('echo', v.unknown(), (msg) => msg.body);
      net.heal();
      // Requests go out every ms through the dial race; none may be lost with a dropped link.
      const asked: Promise<unknown>[] = [];
      const t0 = clock.now();
      for (let t = 0; t < 300; t++) {
        for (const [from, to] of [
          [a, b],
          [b, a],
        ] as const) {
          if (from.node.bus.link(to.node.id)) {
            asked.push(from.node.bus.request(to.node.id, 'echo', { t }, { timeoutMs: 30_000 }));
          }
        }
        await clock.advance(1);
      }
      expect(asked.length).toBeGreaterThan(0);
      let settled = 0;
      for (const p of asked) void p.then(() => settled++);
      await clock.advance(500);
      // All answered within half a second of the race, not after their 30 s timeout.
      expect({ seed, settled, at: clock.now() - t0 }).toMatchObject({ settled: asked.length });
      expect(a.node.bus.link(b.node.id)).toBeDefined();
      expect(b.node.bus.link(a.node.id)).toBeDefined();
      // Both dialed: each side admitted two links and retired one.
      expect([a.node.stats.linksRetired, b.node.stats.linksRetired]).toEqual([1, 1]);
      // The retired link closes after its grace; the kept one and the membership stay.
      await clock.advance(6000);
      expect(a.node.bus.link(b.node.id)).toBeDefined();
      expect(b.node.bus.link(a.node.id)).toBeDefined();
      expect(a.node.nodes().find((n) => n.id === b.node.id)?.state).toBe('direct');
      const after = a.node.bus.request(b.node.id, 'echo', 1).then((r) => r.body);
      await clock.advance(100);
      await expect(after).resolves.toBe(1);
      await Promise.all([a.node.close(), b.node.close()]);
    }
  });

  it("a peer gossiping thousands of fake tombstones breaks no one else's gossip", async () => {
    const clock = new ManualClock();
    const rand = seededRandom(9);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
    const nodes = await startSimMesh(net, bytes, 4, { meshKey: newMeshKey(bytes) });
    await clock.advance(2000);
    const [attacker, ...rest] = nodes;
    const a32 = 'abcdefghijklmnopqrstuvwxyz234567';
    const fakeId = (i: number): string => {
      let s = '';
      for (let j = 0, x = i; j < 16; j++, x = Math.floor(x / 32)) s += a32[x % 32];
      return `${s}-aaaaaaaa`;
    };
    // Two messages at the schema's limit: together more than any gossip may carry.
    for (const batch of [0, 1]) {
      const gone = Array.from({ length: 4096 }, (_, i) => fakeId(batch * 4096 + i));
      await attacker!.node.bus.broadcast('gossip', { m: [], gone });
    }
    await clock.advance(30_000);
    for (const n of rest) {
      expect(n.node.bus.stats.rejected['invalid'] ?? 0).toBe(0);
      const others = rest.filter((o) => o !== n).map((o) => o.node.id);
      for (const id of others) expect(n.node.members.isAlive(id)).toBe(true);
    }
    const c = rest[0]!.node.coordinator();
    expect(c).toBeDefined();
    expect(rest.every((n) => n.node.coordinator() === c)).toBe(true);
  });
});
