import { describe, expect, it } from 'vitest';
import { MemoryShardStore } from '../../src/core/storage/memory-shard-store.ts';
import { ShardServer } from '../../src/core/storage/shard-server.ts';
import type { ShardKey } from '../../src/core/storage/shard-store.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';

/**
 * A reader asks for several pieces of a shard at once (piecesInFlight): the holder reads the
 * shard from its store once for all of them, not once per piece (in a tab each read is an
 * IndexedDB read of the whole shard).
 */
describe('ShardServer reads', () => {
  it('pieces asked for at once share one store read; a change to the file reads again', async () => {
    const store = new MemoryShardStore(1 << 20);
    const file = 'AAAAAAAAAAAAAAAAAAAAAA';
    const key: ShardKey = { file, stripe: 0, index: 1 };
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    await store.put({ ...key, hash: 'h', size: bytes.length, storedAt: 0 }, bytes);
    let reads = 0;
    const get = store.get.bind(store);
    store.get = async (k: ShardKey) => {
      reads++;
      await new Promise((r) => setTimeout(r, 10));
      return get(k);
    };
    const server = new ShardServer(store, new ManualClock(), globalThis.crypto.subtle, {
      maxBytes: 1 << 20,
      idleMs: 1000,
    });
    const pieces = await Promise.all(
      [0, 250, 500, 750].map((from) => server.get({ ...key, from, len: 250 })),
    );
    expect(reads).toBe(1);
    const got = new Uint8Array(1000);
    pieces.forEach((p, i) => got.set(p.bin, i * 250));
    expect(got).toEqual(bytes);
    server.forget(file);
    await server.get({ ...key, from: 0, len: 10 });
    expect(reads).toBe(2);
    await expect(server.get({ ...key, index: 2, from: 0, len: 10 })).rejects.toMatchObject({
      code: 'NO_SHARD',
    });
  });
});
