import { beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import { TimeoutError } from '../../src/core/errors.ts';
import { parseManifest } from '../../src/core/storage/manifest.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import {
  StorageMesh,
  testContent,
  type StorageMeshOptions,
} from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * The storage service under faults on an in-memory mesh: holders lost, a shard corrupted, a
 * full quota, an aborted put and a dead uploader, too few nodes; repair in each case.
 */
const MiB = 1024 * 1024;
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

const mesh = (n: number, seed: number, extra: Partial<StorageMeshOptions> = {}) =>
  StorageMesh.create(n, { seed, coder, ...extra });

describe('storage service under faults', () => {
  it('reads with n − k holders gone; repair restores full redundancy on new nodes', async () => {
    const m = await mesh(5, 3, { client: { stripeBytes: 512 * 1024 } });
    const [a] = m.nodes;
    const data = testContent(1536 * 1024 + 123, 3);
    const ref = await m.settle(a!.storage.files.put('video.mp4', data));
    const info = await m.settle(a!.storage.files.info(ref));
    expect(info.n - info.k).toBe(2);
    const victims = m.nodes.filter((n) => info.stores.includes(n.store.id)).slice(0, 2);
    m.crash(victims[0]!);
    await m.leave(victims[1]!);
    await m.advance(5000);
    expect(bytesEqual(await m.settle(a!.storage.files.getBytes(ref)), data)).toBe(true);
    const h = await m.settle(a!.storage.files.health(ref));
    expect(h).toMatchObject({ state: 'at-risk', tolerance: 0, shards: { ok: 8, offline: 8 } });
    await m.add();
    await m.add();
    await m.advance(3000);
    const report = await m.settle(a!.storage.files.repair(ref));
    expect(report).toMatchObject({ rebuilt: 8, rev: 2, after: { state: 'healthy' } });
    expect(await m.settle(a!.storage.files.health(ref))).toMatchObject({
      state: 'healthy',
      shards: { ok: 16 },
    });
    // The two remaining original holders alone cannot hold all shards any more: it really moved.
    const stores = new Set((await m.settle(a!.storage.files.info(ref))).stores);
    expect(stores.has(victims[0]!.store.id)).toBe(false);
    const reader = m.live().at(-1)!;
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
  });

  it('detects a corrupted shard by its hash, still reads, and repair moves it to another node', async () => {
    const m = await mesh(5, 4, { client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = testContent(600 * 1024, 4);
    const ref = await m.settle(a!.storage.files.put('photo.jpg', data));
    const holder = m.holdersOf(ref.id).get('0/0')![0]!;
    holder.store.raw({ file: ref.id, stripe: 0, index: 0 })![10]! ^= 0xff;
    const bad: string[] = [];
    a!.storage.files.on('badShard', (b) => bad.push(`${b.stripe}/${b.index}@${b.store}`));
    // Every node reads the right bytes; one that picks the altered shard reports it.
    for (const n of m.nodes)
      expect(bytesEqual(await m.settle(n.storage.files.getBytes(ref)), data)).toBe(true);
    expect(bad).toEqual([`0/0@${holder.store.id}`]);
    expect(await m.settle(a!.storage.files.health(ref))).toMatchObject({
      state: 'degraded',
      shards: { corrupt: 1 },
    });
    const spare = await m.add();
    await m.advance(3000);
    const report = await m.settle(a!.storage.files.repair(ref));
    expect(report).toMatchObject({ rebuilt: 1, after: { state: 'healthy' } });
    expect(spare.store.shards().map((s) => `${s.stripe}/${s.index}`)).toEqual(['0/0']);
    await m.advance(100);
    // The holder of the altered copy dropped it when the new manifest arrived.
    expect(holder.store.raw({ file: ref.id, stripe: 0, index: 0 })).toBeUndefined();
    expect(await m.settle(a!.storage.files.health(ref, { deep: true }))).toMatchObject({
      state: 'healthy',
    });
  });

  it("two repairs of one file at once (the scheduled pass and the user's) both succeed; one re-signs", async () => {
    const m = await mesh(5, 14, { client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = testContent(600 * 1024, 14);
    const ref = await m.settle(a!.storage.files.put('twice.bin', data));
    const rev = (await m.settle(a!.storage.files.info(ref))).rev;
    const holder = m.holdersOf(ref.id).get('0/1')![0]!;
    holder.store.raw({ file: ref.id, stripe: 0, index: 1 })![10]! ^= 0xff;
    const repaired: number[] = [];
    a!.storage.files.on('repaired', (r) => repaired.push(r.rev));
    const [mine, pass, again] = await m.settle(
      Promise.all([
        a!.storage.files.repair(ref),
        a!.storage.files.repairAll(),
        a!.storage.files.repair(ref.id),
      ]),
    );
    expect(mine).toMatchObject({ rebuilt: 1, rev: rev + 1, after: { state: 'healthy' } });
    expect(pass).toHaveLength(1);
    // The later ones found the file healthy: each returns the report of the repair that did it.
    expect(pass[0]).toEqual(mine);
    expect(again).toEqual(mine);
    expect(repaired).toEqual([rev + 1]);
    expect(await m.settle(a!.storage.files.health(ref, { deep: true }))).toMatchObject({
      state: 'healthy',
    });
    expect(bytesEqual(await m.settle(a!.storage.files.getBytes(ref)), data)).toBe(true);
  });

  it('two devices repairing one file at once both succeed, and every holder ends on one manifest', async () => {
    for (const seed of [14, 15, 16]) {
      const m = await mesh(5, seed, { client: { stripeBytes: 256 * 1024 } });
      const [a, b] = m.nodes;
      const data = testContent(600 * 1024, seed);
      const ref = await m.settle(a!.storage.files.put('both.bin', data));
      const holder = m.holdersOf(ref.id).get('0/1')![0]!;
      holder.store.raw({ file: ref.id, stripe: 0, index: 1 })![10]! ^= 0xff;
      const reports = await m.settle(
        Promise.all([a!.storage.files.repair(ref), b!.storage.files.repair(ref)]),
      );
      expect(reports.map((r) => r.rev)).toEqual([2, 2]);
      expect(reports.some((r) => r.rebuilt === 1)).toBe(true);
      // A read takes the revision holders keep, and brings any other holder round to it.
      expect(bytesEqual(await m.settle(b!.storage.files.getBytes(ref)), data)).toBe(true);
      await m.advance(500);
      const held = new Set<string>();
      for (const n of m.nodes) {
        const f = await n.store.getFile(ref.id);
        if (f?.manifest) held.add(`${f.manifest.rev}:${f.manifest.signed.sig}`);
      }
      expect(held.size, `seed ${seed}: one manifest on every holder`).toBe(1);
      expect(
        await m.settle(a!.storage.files.health(ref, { deep: true })),
        `seed ${seed}`,
      ).toMatchObject({ state: 'healthy' });
    }
  });

  it('a manifest that missed stores at put reaches them: by a read, else from the holders themselves', async () => {
    for (const readSoon of [true, false]) {
      const m = await mesh(5, 11, { client: { stripeBytes: 128 * 1024 } });
      const [up, ...holders] = m.nodes;
      // Two holders' `st.manifest.put` time out (a busy or reloading tab); the put succeeds.
      const bus = up!.node.bus;
      const request = bus.request.bind(bus);
      const missed = new Set(holders.slice(0, 2).map((h) => h.node.id));
      bus.request = ((to, t, body, o) =>
        t === 'st.manifest.put' && missed.has(to)
          ? Promise.reject(new TimeoutError(`request '${t}' to ${to}`, 5000))
          : request(to, t, body, o)) as typeof bus.request;
      const data = testContent(300 * 1024, 5);
      const ref = await m.settle(up!.storage.files.put('f.bin', data));
      bus.request = request;
      const lacking = async (): Promise<number> => {
        let n = 0;
        for (const h of holders) if (!(await h.store.getFile(ref.id))?.manifest) n++;
        return n;
      };
      expect(await lacking()).toBe(2);
      if (readSoon) {
        // A read sends the manifest to the stores it names that answered without one.
        expect(bytesEqual(await m.settle(up!.storage.files.getBytes(ref)), data)).toBe(true);
        await m.advance(100);
        expect(await lacking()).toBe(0);
      }
      // Past the orphan grace period: a holder asks its neighbours before collecting.
      await m.advance(31 * 60_000);
      expect(await lacking(), `read soon: ${readSoon}`).toBe(0);
      expect(await m.settle(up!.storage.files.health(ref))).toMatchObject({
        state: 'healthy',
        shards: { missing: 0 },
      });
      expect(bytesEqual(await m.settle(up!.storage.files.getBytes(ref)), data)).toBe(true);
    }
  });

  it('a full quota is a clear error and leaves nothing behind', async () => {
    const m = await mesh(4, 5, { quotaBytes: 300 * 1024, client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const err = await m.settle(
      a!.storage.files.put('big.bin', testContent(2 * MiB, 5)).catch((e: unknown) => e),
    );
    expect(err).toMatchObject({ code: 'QUOTA_FULL' });
    expect((err as Error).message).toMatch(/no store in the mesh has room/);
    await m.advance(1000);
    for (const n of m.nodes) expect(await n.store.usage()).toBe(0);
    expect(await m.settle(m.nodes[1]!.storage.files.list())).toEqual([]);
  });

  it('an aborted put leaves no visible file; an uploader gone mid-put leaves orphans that holders collect', async () => {
    const m = await mesh(5, 6, {
      client: { stripeBytes: 128 * 1024 },
      holder: { orphanGraceMs: 60_000, sweepMs: 10_000 },
    });
    const [a, b] = m.nodes;
    const ctl = new AbortController();
    const put = a!.storage.files.put('draft.doc', testContent(2 * MiB, 6), {
      signal: ctl.signal,
      onProgress: (p) => p.stripes === 3 && ctl.abort(new Error('user cancelled')),
    });
    const err = await m.settle(put.catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'ABORTED' });
    await m.advance(500);
    expect(await m.settle(b!.storage.files.list())).toEqual([]);
    for (const n of m.nodes) expect(await n.store.usage()).toBe(0);

    // The uploader's tab dies mid-put: holders have shards but no manifest.
    const c = m.nodes[2]!;
    let crashed = false;
    const dying = c.storage.files.put('half.bin', testContent(2 * MiB, 7), {
      onProgress: (p) => {
        if (p.stripes === 4 && !crashed) {
          crashed = true;
          m.crash(c);
        }
      },
    });
    dying.catch(() => {});
    await m.settle(
      dying.catch(() => {}),
      20_000,
    );
    expect(crashed).toBe(true);
    const held = (): number => m.live().reduce((t, n) => t + n.store.shards().length, 0);
    expect(held()).toBeGreaterThan(0);
    expect(await m.settle(b!.storage.files.list())).toEqual([]);
    await m.advance(80_000);
    expect(held()).toBe(0);
  });

  it('with too few nodes shards wait locally; repair moves them out when peers come', async () => {
    const m = await mesh(1, 8, { client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = testContent(400 * 1024, 9);
    const ref = await m.settle(a!.storage.files.put('alone.txt', data));
    expect(await m.settle(a!.storage.files.health(ref))).toMatchObject({
      state: 'at-risk',
      k: 1,
      n: 3,
      crowded: 4,
      stores: 1,
    });
    expect(bytesEqual(await m.settle(a!.storage.files.getBytes(ref)), data)).toBe(true);
    await m.add();
    await m.add();
    await m.advance(3000);
    const report = await m.settle(a!.storage.files.repair(ref));
    expect(report).toMatchObject({ rebuilt: 4, after: { state: 'healthy', stores: 3 } });
    await m.advance(100);
    expect(a!.store.shards()).toHaveLength(2);
    // The manifest is on every holder: the uploader can leave and the file is still listed.
    const manifest = await a!.store.getFile(ref.id);
    expect(parseManifest(manifest!.manifest!.signed).rev).toBe(2);
    await m.leave(a!);
    await m.advance(1000);
    const other = m.nodes[1]!;
    expect((await m.settle(other.storage.files.list())).map((f) => f.id)).toEqual([ref.id]);
    expect(bytesEqual(await m.settle(other.storage.files.getBytes(ref)), data)).toBe(true);
  });
  it('peers whose storage starts after they join are asked again, and the waiting file spreads to them at once', async () => {
    const m = await mesh(0, 11, { client: { stripeBytes: 256 * 1024 } });
    // The owner's repair loop runs every 60 s, as in a tab.
    const a = await m.add({ repairEveryMs: 60_000 });
    await m.advance(3000);
    const data = testContent(400 * 1024, 11);
    const ref = await m.settle(a.storage.files.put('early.txt', data));
    expect(await m.settle(a.storage.files.health(ref))).toMatchObject({ state: 'at-risk' });
    // Two tabs join now but open their storage only 5 s later (after the join's repair pass):
    // their first `st.info` fails.
    const t0 = m.clock.now();
    await Promise.all([m.add({ storageDelayMs: 5000 }), m.add({ storageDelayMs: 5000 })]);
    // Watched from the stores alone (asking for health would itself ask the peers again).
    const spreadAt = async (): Promise<number> => {
      for (;;) {
        const stores = new Set([...m.holdersOf(ref.id).values()].flat().map((n) => n.store.id));
        if (stores.size >= 3) return m.clock.now() - t0;
        await m.advance(1000);
        if (m.clock.now() - t0 > 120_000) throw new Error(`still on ${stores.size} stores`);
      }
    };
    // Without asking again it would wait for the next 60 s pass.
    // Here: ~10 s (asked again at 1, 2, 4 s, then a pass 2 s after its store is known).
    expect(await spreadAt()).toBeLessThan(30_000);
    expect(bytesEqual(await m.settle(a.storage.files.getBytes(ref)), data)).toBe(true);
  });

  it('the repair loop restores redundancy after a holder crashes; holders report their use', async () => {
    const m = await mesh(5, 10, { client: { stripeBytes: 128 * 1024 } });
    const owner = await m.add({ repairEveryMs: 10_000 });
    await m.advance(3000);
    const data = testContent(300 * 1024, 10);
    const ref = await m.settle(owner.storage.files.put('loop.bin', data));
    const info = await m.settle(owner.storage.files.info(ref));
    const victim = m.nodes.find((n) => n.store.id === info.stores[0])!;
    const used = await victim.store.usage();
    const view = await m.settle(owner.storage.holders());
    expect(view[0]).toMatchObject({ self: true, node: owner.node.id, used: 0 });
    expect(view.find((h) => h.node === victim.node.id)).toMatchObject({ used, quota: 1 << 30 });
    m.crash(victim);
    await m.advance(30_000);
    expect(await m.settle(owner.storage.files.health(ref))).toMatchObject({ state: 'healthy' });
    expect((await m.settle(owner.storage.files.info(ref))).stores).not.toContain(victim.store.id);
    expect(bytesEqual(await m.settle(owner.storage.files.getBytes(ref)), data)).toBe(true);
  });
});
