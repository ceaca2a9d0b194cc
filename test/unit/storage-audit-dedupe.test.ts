import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { MemoryShardStore } from '../../src/core/storage/memory-shard-store.ts';
import { ShardServer } from '../../src/core/storage/shard-server.ts';

/** An audit naming one shard many times costs one read and one hash. */
describe('ShardServer.audit', () => {
  it('hashes each distinct item once and answers every item', async () => {
    const store = new MemoryShardStore(1e9);
    const key = { file: 'A'.repeat(22), stripe: 0, index: 0 };
    await store.put({ ...key, size: 1024, hash: 'h', storedAt: 0 }, new Uint8Array(1024).fill(7));
    let hashed = 0;
    const subtle = {
      digest: (alg: string, data: BufferSource) => {
        hashed++;
        return crypto.subtle.digest(alg, data);
      },
    } as SubtleCrypto;
    const server = new ShardServer(store, systemClock, subtle, {
      maxBytes: 1 << 20,
      idleMs: 60_000,
    });
    const items = [
      ...Array.from({ length: 4000 }, () => ({ stripe: 0, index: 0 })),
      { stripe: 0, index: 0, from: 10, len: 20 },
      { stripe: 0, index: 1 },
    ];
    const { results } = await server.audit({ file: key.file, items });
    expect(results).toHaveLength(4002);
    expect(new Set(results.slice(0, 4000)).size).toBe(1);
    expect(results[4000]).not.toBe(results[0]);
    expect(results[4001]).toBeNull();
    expect(hashed).toBe(2);
  });
});
