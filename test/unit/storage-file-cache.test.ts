import { beforeAll, describe, expect, it, vi } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { manifestBytes, type StripeKey } from '../../src/core/storage/file-cache.ts';
import { MemoryFileCache } from '../../src/core/storage/memory-file-cache.ts';
import type { SignedManifest } from '../../src/core/storage/shard-store.ts';
import {
  StorageMesh,
  testContent,
  type StorageMeshOptions,
} from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * The local file cache: LRU by bytes within a budget, invalidation by revision and delete
 * (MemoryFileCache), and the StorageClient reading through it on an in-memory mesh: a second
 * read needs no holder, a corrupt entry is dropped and read from the network, never returned.
 */
const man = (rev: number): SignedManifest => ({ m: `{"rev":${rev}}`, sig: 'signature' });
const key = (file: string, stripe: number, rev = 1): StripeKey => ({ file, rev, stripe });
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe('MemoryFileCache', () => {
  it('evicts the least recently used stripes by bytes to stay within the budget', async () => {
    const mb = manifestBytes(man(1));
    const c = new MemoryFileCache(1000 + 2 * mb);
    await c.putStripe(key('A', 0), [bytes(150, 1), bytes(150, 1)], man(1));
    await c.putStripe(key('A', 1), [bytes(300, 2)], man(1));
    await c.putStripe(key('A', 2), [bytes(300, 3)], man(1));
    expect(await c.usage()).toBe(900 + mb);
    // A read makes stripe 0 the most recent; stripe 1 is now the oldest.
    expect((await c.getStripe(key('A', 0)))!.map((s) => s[0])).toEqual([1, 1]);
    await c.putStripe(key('B', 0), [bytes(300, 4)], man(1));
    expect(await c.getStripe(key('A', 1))).toBeUndefined();
    expect(await c.usage()).toBe(900 + 2 * mb);
    expect(await c.usage()).toBeLessThanOrEqual(c.budgetBytes);
    expect(await c.contents()).toEqual(
      new Map([
        ['A', { rev: 1, stripes: 2 }],
        ['B', { rev: 1, stripes: 1 }],
      ]),
    );
    // Several evictions for one large stripe; file A's manifest leaves with its last stripe.
    await c.putStripe(key('C', 0), [bytes(700, 5)], man(1));
    expect(await c.getManifest('A')).toBeUndefined();
    expect([...(await c.contents()).keys()]).toEqual(['B', 'C']);
    expect(await c.usage()).toBe(1000 + 2 * mb);
    // Larger than the whole budget: not kept (and nothing else is evicted for it).
    await c.putStripe(key('D', 0), [bytes(5000, 6)], man(1));
    expect(await c.getStripe(key('D', 0))).toBeUndefined();
    expect([...(await c.contents()).keys()]).toEqual(['B', 'C']);
    // A lower budget evicts at once; a replaced stripe counts once.
    await c.putStripe(key('C', 0), [bytes(700, 7)], man(1));
    expect(await c.usage()).toBe(1000 + 2 * mb);
    await c.setBudget(800);
    expect([...(await c.contents()).keys()]).toEqual(['C']);
    expect(await c.usage()).toBe(700 + mb);
    // Stored bytes are copies: the caller's buffers may change afterwards.
    const mine = bytes(10, 9);
    await c.putStripe(key('E', 0), [mine], man(1));
    mine[0] = 0;
    expect((await c.getStripe(key('E', 0)))![0]![0]).toBe(9);
  });

  it('drops other revisions when a new one is stored, and everything of a deleted file', async () => {
    const c = new MemoryFileCache(1 << 20);
    await c.putStripe(key('A', 0, 1), [bytes(100, 1)], man(1));
    await c.putStripe(key('A', 1, 1), [bytes(100, 1)], man(1));
    await c.putStripe(key('B', 0, 3), [bytes(100, 1)], man(3));
    expect(await c.getManifest('A')).toEqual({ rev: 1, signed: man(1) });
    await c.invalidate('A', 1);
    expect((await c.contents()).get('A')).toEqual({ rev: 1, stripes: 2 });
    await c.invalidate('A', 2);
    expect((await c.contents()).get('A')).toBeUndefined();
    expect(await c.getManifest('A')).toBeUndefined();
    await c.putStripe(key('A', 0, 2), [bytes(100, 2)], man(2));
    await c.putStripe(key('A', 0, 3), [bytes(100, 3)], man(3));
    expect(await c.getStripe(key('A', 0, 2))).toBeUndefined();
    expect(await c.getManifest('A')).toEqual({ rev: 3, signed: man(3) });
    await c.dropStripe(key('A', 0, 3));
    expect(await c.getManifest('A')).toBeUndefined();
    await c.invalidate('B');
    expect(await c.contents()).toEqual(new Map());
    expect(await c.usage()).toBe(0);
  });
});

/** A cache whose reads of one stripe come back with a flipped bit (a corrupt disk). */
class CorruptingCache extends MemoryFileCache {
  corrupt: number | undefined;
  override async getStripe(k: StripeKey): Promise<Uint8Array[] | undefined> {
    const got = await super.getStripe(k);
    if (got && k.stripe === this.corrupt) got[0]![7]! ^= 1;
    return got;
  }
}

let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});
const mesh = (n: number, seed: number, extra: Partial<StorageMeshOptions> = {}) =>
  StorageMesh.create(n, { seed, coder, ...extra });

describe('StorageClient with a local cache', () => {
  it('serves a second get from the cache byte-identical, also with every holder gone', async () => {
    const m = await mesh(4, 41, { client: { stripeBytes: 256 * 1024 } });
    const cache = new MemoryFileCache();
    // The reader donates nothing: it holds no shard and no manifest of the file.
    const reader = await m.add({ cache, quotaBytes: 0 });
    await m.advance(3000);
    const data = testContent(700 * 1024, 41);
    const ref = await m.settle(m.nodes[0]!.storage.files.put('cached.bin', data));
    expect(reader.store.shards()).toEqual([]);
    const before = await m.settle(reader.storage.files.list());
    expect(before.find((f) => f.id === ref.id)?.cached).toBe(false);
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    expect((await cache.contents()).get(ref.id)).toEqual({ rev: 1, stripes: 3 });
    const after = await m.settle(reader.storage.files.list());
    expect(after.find((f) => f.id === ref.id)?.cached).toBe(true);
    // No shard requests on the second read.
    const spy = vi.spyOn(reader.node.bus, 'request');
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    expect(spy.mock.calls.filter((c) => c[1] === 'st.get')).toEqual([]);
    spy.mockRestore();
    // Every other node gone: the manifest and the stripes come from the cache.
    const info = await m.settle(reader.storage.files.info(ref));
    for (const n of m.nodes) if (n !== reader) m.crash(n);
    await m.advance(20_000);
    expect(reader.node.members.alive()).toEqual([]);
    expect(info.stores).not.toContain(reader.store.id);
    const blob = await m.settle(reader.storage.files.getBlob(ref));
    expect(bytesEqual(new Uint8Array(await blob.arrayBuffer()), data)).toBe(true);
    // Without the cached copy the same read fails: the network alone cannot serve it.
    await cache.invalidate(ref.id);
    const err = await m.settle(reader.storage.files.getBytes(ref).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('does not cache a file larger than the whole budget (it would only evict itself)', async () => {
    const m = await mesh(4, 45, { client: { stripeBytes: 64 * 1024 } });
    const cache = new MemoryFileCache(200 * 1024);
    const reader = await m.add({ cache, quotaBytes: 0 });
    await m.advance(3000);
    const big = testContent(300 * 1024, 45);
    const small = testContent(150 * 1024, 46);
    const refBig = await m.settle(m.nodes[0]!.storage.files.put('big.bin', big));
    const refSmall = await m.settle(m.nodes[0]!.storage.files.put('small.bin', small));
    const put = vi.spyOn(cache, 'putStripe');
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(refBig)), big)).toBe(true);
    expect(put).not.toHaveBeenCalled();
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(refSmall)), small)).toBe(true);
    expect((await cache.contents()).get(refSmall.id)).toEqual({ rev: 1, stripes: 3 });
    expect(await cache.usage()).toBeLessThanOrEqual(200 * 1024);
  });

  it('a corrupt cache entry is dropped and read from the network, never returned', async () => {
    const m = await mesh(4, 42, { client: { stripeBytes: 128 * 1024 } });
    const cache = new CorruptingCache();
    const reader = await m.add({ cache });
    await m.advance(3000);
    const data = testContent(300 * 1024, 42);
    const ref = await m.settle(m.nodes[0]!.storage.files.put('flaky.bin', data));
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    cache.corrupt = 1;
    const drop = vi.spyOn(cache, 'dropStripe');
    const spy = vi.spyOn(reader.node.bus, 'request');
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    expect(drop.mock.calls.map((c) => c[0].stripe)).toEqual([1]);
    // Only stripe 1 went to the network (k shards of it), and it is cached again.
    const gets = spy.mock.calls.filter((c) => c[1] === 'st.get');
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.every((c) => (c[2] as { stripe: number }).stripe === 1)).toBe(true);
    expect((await cache.contents()).get(ref.id)).toEqual({ rev: 1, stripes: 3 });
    // With the holders gone, a corrupt entry makes the read fail rather than return wrong bytes.
    for (const n of m.nodes) if (n !== reader) m.crash(n);
    await m.advance(20_000);
    const err = await m.settle(reader.storage.files.getBytes(ref).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'FILE_UNAVAILABLE', stripe: 1 });
    cache.corrupt = undefined;
    expect((await cache.contents()).get(ref.id)).toEqual({ rev: 1, stripes: 2 });
  });

  it('drops the cached revision when repair makes a new one, and the file when it is deleted', async () => {
    const m = await mesh(5, 43, { client: { stripeBytes: 256 * 1024 } });
    const cache = new MemoryFileCache();
    const [a] = m.nodes;
    const reader = await m.add({ cache });
    await m.advance(3000);
    const data = testContent(600 * 1024, 43);
    const ref = await m.settle(a!.storage.files.put('moving.bin', data));
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    expect((await cache.contents()).get(ref.id)).toEqual({ rev: 1, stripes: 3 });
    const info = await m.settle(a!.storage.files.info(ref));
    const victims = m.nodes.filter((n) => info.stores.includes(n.store.id)).slice(0, 2);
    for (const v of victims) m.crash(v);
    await m.advance(20_000);
    await m.add();
    await m.add();
    await m.advance(3000);
    const report = await m.settle(a!.storage.files.repair(ref));
    expect(report.rev).toBe(2);
    const listed = await m.settle(reader.storage.files.list());
    expect(listed.find((f) => f.id === ref.id)).toMatchObject({ rev: 2, cached: false });
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
    expect((await cache.contents()).get(ref.id)).toEqual({ rev: 2, stripes: 3 });
    expect((await cache.getManifest(ref.id))?.rev).toBe(2);
    // A delete by the owner (on another node): the reader's next get drops its copy.
    await m.settle(a!.storage.files.delete(ref));
    const gone = await m.settle(reader.storage.files.getBytes(ref).catch((e: unknown) => e));
    expect(gone).toMatchObject({ code: 'FILE_DELETED' });
    expect(await cache.contents()).toEqual(new Map());
    expect(await cache.usage()).toBe(0);
    // A delete from the caching node itself drops it at once.
    const own = await m.settle(reader.storage.files.put('own.bin', testContent(1000, 44)));
    await m.settle(reader.storage.files.getBytes(own));
    expect((await cache.contents()).has(own.id)).toBe(true);
    await m.settle(reader.storage.files.delete(own));
    expect(await cache.contents()).toEqual(new Map());
  });
});
