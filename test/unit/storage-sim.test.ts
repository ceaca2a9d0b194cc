import { beforeAll, describe, expect, it } from 'vitest';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import type { FileRef } from '../../src/core/storage/storage-client.ts';
import { StorageMesh, type StorageSimNode } from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * A seeded simulation of storage under churn: holders crash, close and come back (a reloaded
 * tab: new node id, same store), new holders join, and the owner repairs now and then. After
 * every step, while no stripe has more than n − k of its holders gone, every file must read back
 * byte-identical; at the end repair must restore full redundancy, and once holders have heard
 * of the latest manifests and swept, no store keeps a shard the manifests do not assign to it.
 * The run is a function of the seed alone (seeded device keys, WebCrypto results released in
 * start order: sim-node.ts, manual-clock.ts), so a failing seed replays exactly.
 */
const SEED = Number(process.env.WOS_STORAGE_SIM_SEED ?? 20261201);

let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe(`storage simulation (seed ${SEED})`, () => {
  it(
    'files stay readable through churn within n − k per stripe; repair restores full redundancy',
    // ~16 s alone; a 2-core machine at load 9 has taken over 60 s.
    { timeout: 180_000 },
    async () => {
      const m = await StorageMesh.create(10, {
        seed: SEED,
        coder,
        latencyMs: 2,
        client: { stripeBytes: 64 * 1024, shardTimeoutMs: 5000 },
        holder: { orphanGraceMs: 30_000, sweepMs: 5000 },
      });
      const client = m.nodes[0]!;
      const files = client.storage.files;
      const pick = <T>(xs: T[]): T => xs[Math.floor(m.rand() * xs.length)]!;
      const stored: { ref: FileRef; data: Uint8Array }[] = [];
      for (const size of [100 * 1024, 300 * 1024 + 7, 517 * 1024]) {
        const data = m.bytes(size);
        stored.push({ ref: await m.settle(files.put(`file-${size}`, data)), data });
      }
      const info = await m.settle(files.info(stored[0]!.ref));
      expect(info).toMatchObject({ k: 6, n: 9 });
      const spare = info.n - info.k;
      const departed: StorageSimNode[] = [];
      const storeLive = (store: string): boolean =>
        m.nodes.some((n) => n.alive && n.store.id === store);
      /** Most shards of any stripe whose store is gone, if `without` went too. */
      const worstGone = async (without?: string): Promise<number> => {
        let worst = 0;
        for (const f of stored) {
          for (const stripe of await m.settle(files.locate(f.ref))) {
            const gone = stripe.filter((s) => s === without || !storeLive(s)).length;
            worst = Math.max(worst, gone);
          }
        }
        return worst;
      };
      const counts = { crash: 0, leave: 0, back: 0, join: 0, repair: 0, reads: 0 };

      for (let step = 0; step < 40; step++) {
        const r = m.rand();
        const holders = m.live().filter((n) => n !== client);
        if (r < 0.45 && holders.length > 3) {
          const victim = pick(holders);
          if ((await worstGone(victim.store.id)) <= spare) {
            departed.push(victim);
            if (m.rand() < 0.5) {
              counts.crash++;
              m.crash(victim);
            } else {
              counts.leave++;
              await m.leave(victim);
            }
          }
        } else if (r < 0.7 && departed.length > 0) {
          const back = departed.splice(Math.floor(m.rand() * departed.length), 1)[0]!;
          counts.back++;
          await m.add({ store: back.store });
        } else if (r < 0.8) {
          counts.join++;
          await m.add();
        } else {
          counts.repair++;
          await m.settle(files.repairAll());
        }
        await m.advance(4000);
        expect(await worstGone()).toBeLessThanOrEqual(spare);
        for (const f of stored) {
          const reader = m.rand() < 0.5 ? client : pick(m.live());
          expect(same(await m.settle(reader.storage.files.getBytes(f.ref)), f.data)).toBe(true);
          counts.reads++;
        }
      }
      expect(counts.crash + counts.leave).toBeGreaterThan(5);
      expect(counts.back).toBeGreaterThan(2);

      // With at least n live holders again (new ones: the departed stay away for now), repair
      // restores full redundancy.
      while (m.live().length - 1 < info.n) await m.add();
      await m.advance(4000);
      await m.settle(files.repairAll());
      for (const f of stored) {
        const h = await m.settle(files.health(f.ref));
        expect(h).toMatchObject({ state: 'healthy', crowded: 0 });
        expect(h.shards.ok).toBe(h.n * h.stripes);
      }
      // Every departed holder comes back; its stale manifests are replaced when the owner lists,
      // and after the grace period no store keeps a shard the manifests do not assign to it.
      for (const d of departed.splice(0)) await m.add({ store: d.store });
      await m.advance(4000);
      await m.settle(files.list());
      await m.advance(40_000);
      const assigned = new Set<string>();
      for (const f of stored) {
        (await m.settle(files.locate(f.ref))).forEach((stripe, s) =>
          stripe.forEach((store, i) => assigned.add(`${store}|${f.ref.id}/${s}/${i}`)),
        );
      }
      const seen = new Set<string>();
      for (const n of m.nodes) {
        for (const sh of n.store.shards()) {
          seen.add(`${n.store.id}|${sh.file}/${sh.stripe}/${sh.index}`);
        }
      }
      expect([...seen].filter((x) => !assigned.has(x))).toEqual([]);
      expect([...assigned].filter((x) => !seen.has(x))).toEqual([]);
      for (const f of stored) {
        expect(same(await m.settle(client.storage.files.getBytes(f.ref)), f.data)).toBe(true);
      }
    },
  );
});
