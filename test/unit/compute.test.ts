import { describe, expect, it } from 'vitest';
import { ComputeClient } from '../../src/core/compute/compute-client.ts';
import { ComputeNode } from '../../src/core/compute/compute-node.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { emptyResources } from '../../src/core/resources.ts';
import { FakeExecutor } from '../../src/core/testing/fake-executor.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork, type MemoryTransport } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';

interface CNode {
  node: MeshNode;
  transport: MemoryTransport;
  exec: FakeExecutor;
  client: ComputeClient;
  compute: ComputeNode;
}

async function computeMesh(n: number, seed: number, workers = 2, delayMs = 20) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 1, jitterMs: 1, random: rand });
  const meshKey = newMeshKey(bytes);
  const nodes: CNode[] = [];
  for (let i = 0; i < n; i++) {
    const { node, transport } = await createSimNode(net, bytes, { meshKey });
    const exec = new FakeExecutor(clock, workers, delayMs);
    const compute = new ComputeNode(node, [exec], globalThis.crypto.subtle);
    const client = new ComputeClient(node, compute, globalThis.crypto.subtle);
    node.setResources({
      ...emptyResources(),
      cores: workers,
      compute: { workers, gpu: false },
      visibility: 'visible',
    });
    void node.start();
    nodes.push({ node, transport, exec, client, compute });
    await clock.advance(20);
  }
  await clock.advance(2500);
  return { clock, nodes, rand };
}

/** Advances the manual clock until `p` settles. */
async function settle<T>(clock: ManualClock, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  const q = p.finally(() => (done = true));
  for (let t = 0; t < maxMs && !done; t += 10) await clock.advance(10);
  return q;
}

const SQUARE = 'export default (x) => x * x;';

describe('compute on the in-memory mesh', () => {
  it('maps 64 tasks over the mesh, in order, each traceable to its node', async () => {
    const { clock, nodes } = await computeMesh(3, 1);
    const a = nodes[0]!;
    const k = await a.client.kernel(SQUARE);
    const inputs = Array.from({ length: 64 }, (_, i) => i);
    let progress = 0;
    const res = await settle(clock, a.client.map(k, inputs, { onProgress: (d) => (progress = d) }));
    expect(res.map((r) => r.value)).toEqual(inputs.map((x) => x * x));
    expect(progress).toBe(64);
    const used = new Set(res.map((r) => r.node));
    expect(used.size).toBeGreaterThanOrEqual(2);
    for (const id of used) expect(nodes.map((n) => n.node.id)).toContain(id);
    // Each remote node fetched the kernel once.
    for (const n of nodes.slice(1)) expect(n.compute.kernels.has(k.id)).toBe(used.has(n.node.id));
  });

  it('a batch option above the 256-task message limit is capped, not refused', async () => {
    const { clock, nodes } = await computeMesh(1, 3, 2, 1);
    const a = nodes[0]!;
    const k = await a.client.kernel(SQUARE);
    const inputs = Array.from({ length: 600 }, (_, i) => i);
    const res = await settle(clock, a.client.map(k, inputs, { batch: 300 }));
    expect(res.map((r) => r.value)).toEqual(inputs.map((x) => x * x));
  });

  it('returns the kernel error with its message and stack', async () => {
    const { clock, nodes } = await computeMesh(2, 2);
    const k = await nodes[0]!.client.kernel(
      'export default (x) => { if (x === 3) throw new Error("three is bad"); return x; }',
    );
    const err = await settle(
      clock,
      nodes[0]!.client.map(k, [1, 2, 3, 4]).catch((e: unknown) => e),
    );
    expect(err).toMatchObject({ code: 'KERNEL_ERROR' });
    expect((err as Error).message).toMatch(/three is bad/);
    expect((err as { kernelStack?: string }).kernelStack).toMatch(/three is bad/);
  });

  it('use("cpu", n) leases the best nodes and runs commands; release frees them', async () => {
    const { clock, nodes } = await computeMesh(3, 3);
    const a = nodes[0]!;
    const lease = await settle(clock, a.client.use('cpu', 2));
    expect(lease.slots.reduce((n, s) => n + s.workers, 0)).toBe(2);
    const k = await a.client.kernel(SQUARE);
    const r = await settle(clock, lease.command(k, 7));
    expect(r.value).toBe(49);
    expect(lease.nodes).toContain(r.node);
    const coord = nodes.find((n) => n.node.election.isCoordinator)!;
    expect(coord.compute.leases.size()).toBe(1);
    // Rest, then two commands at once: they wake it with one grant, not two.
    await settle(clock, lease.rest());
    expect(coord.compute.leases.size()).toBe(0);
    const both = await settle(clock, Promise.all([lease.command(k, 2), lease.command(k, 3)]));
    expect(both.map((x) => x.value)).toEqual([4, 9]);
    expect(lease.state).toBe('active');
    expect(coord.compute.leases.size()).toBe(1);
    await settle(clock, lease.release());
    expect(lease.state).toBe('released');
    expect(coord.compute.leases.size()).toBe(0);
  });

  it('seeded simulation: nodes crash mid-run and every task still completes exactly once', async () => {
    for (const seed of [11, 12, 13]) {
      const { clock, nodes, rand } = await computeMesh(6, seed, 2, 50);
      const a = nodes[0]!;
      const k = await a.client.kernel('export default (x) => ({ x, y: x * 3 });');
      const inputs = Array.from({ length: 200 }, (_, i) => i);
      const seen = new Map<number, number>();
      const run = a.client.map(k, inputs, {
        timeoutMs: 5000,
        onProgress: (_d, _t, last) => {
          const x = (last.value as { x: number }).x;
          seen.set(x, (seen.get(x) ?? 0) + 1);
        },
      });
      run.catch(() => {});
      // Crash two random non-requester nodes while they are running tasks.
      const working = (): CNode[] => nodes.slice(1).filter((n) => n.exec.load().busy > 0);
      for (let t = 0; t < 3000 && working().length < 2; t += 10) await clock.advance(10);
      const victims = working()
        .sort(() => rand() - 0.5)
        .slice(0, 2);
      expect(victims).toHaveLength(2);
      for (const v of victims) v.transport.crash();
      const res = await settle(clock, run);
      expect(res.map((r) => (r.value as { y: number }).y)).toEqual(inputs.map((x) => x * 3));
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      expect(seen.size).toBe(200);
      for (const r of res)
        expect(victims.map((v) => v.node.id)).not.toContain(r.node === undefined ? '' : '');
    }
  });

  it('verify: 2 runs each task on two devices; a lying node is outvoted and loses reputation', async () => {
    const { clock, nodes } = await computeMesh(3, 4);
    const a = nodes[0]!;
    const liar = nodes[2]!;
    const honest = 'export default (x) => x + 1;';
    const k = await a.client.kernel(honest);
    // The liar runs a different kernel under the same id.
    const orig = liar.exec.run.bind(liar.exec);
    liar.exec.run = async (kernel, input, o) => ((await orig(kernel, input, o)) as number) + 1000;
    const res = await settle(clock, a.client.map(k, [1, 2, 3, 4, 5, 6], { verify: 3 }));
    expect(res.map((r) => r.value)).toEqual([2, 3, 4, 5, 6, 7]);
    for (const r of res) {
      expect(r.agreed).toHaveLength(2);
      expect(r.agreed).not.toContain(liar.node.id);
    }
    await clock.advance(200);
    const coord = nodes.find((n) => n.node.election.isCoordinator)!;
    expect(coord.compute.reliability(liar.node.id)).toBeLessThan(0.2);
    expect(coord.compute.reliability(a.node.id)).toBe(1);
  });
});
