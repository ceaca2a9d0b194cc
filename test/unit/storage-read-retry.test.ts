import { beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { StorageMesh, testContent } from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/** Reads with exactly k holders left, one of which fails a request once (busy, reconnecting). */
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

async function meshWithKLeft(seed: number) {
  const m = await StorageMesh.create(5, { seed, coder, client: { stripeBytes: 256 * 1024 } });
  const [a] = m.nodes;
  const data = testContent(700 * 1024, seed);
  const ref = await m.settle(a!.storage.files.put('notes.txt', data));
  const info = await m.settle(a!.storage.files.info(ref));
  const holders = m.nodes.filter((n) => n !== a && info.stores.includes(n.store.id));
  for (const gone of holders.slice(0, info.n - info.k)) m.crash(gone);
  await m.advance(5000);
  return { m, a: a!, data, ref, left: holders.slice(info.n - info.k) };
}

/** Makes the holder's store fail its next `times` reads with a plain error. */
function failReads(store: { get: (...a: never[]) => unknown }, times: number): () => number {
  const get = store.get.bind(store);
  let failed = 0;
  store.get = ((...args: never[]) => {
    if (failed < times) {
      failed++;
      return Promise.reject(new Error('disk busy'));
    }
    return get(...args);
  }) as typeof store.get;
  return () => failed;
}

describe('reading through transient holder failures', () => {
  it('asks a holder that failed once again, so k holders are enough', async () => {
    const { m, a, data, ref, left } = await meshWithKLeft(11);
    const failed = failReads(left[0]!.store, 1);
    const got = await m.settle(a.storage.files.getBytes(ref));
    expect(failed()).toBe(1);
    expect(bytesEqual(got, data)).toBe(true);
  });

  it('gives up with FILE_UNAVAILABLE naming the last error when a holder keeps failing', async () => {
    const { m, a, ref, left } = await meshWithKLeft(12);
    failReads(left[0]!.store, 1000);
    const err = await m.settle(a.storage.files.getBytes(ref).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'FILE_UNAVAILABLE' });
    expect((err as Error).message).toMatch(
      /needs \d; wait for its holders.*last error: .*disk busy/,
    );
  });

  it('fetches exactly k shards of each stripe when every holder answers', async () => {
    const m = await StorageMesh.create(5, { seed: 13, coder, client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = testContent(1000 * 1024, 13);
    const ref = await m.settle(a!.storage.files.put('four-stripes.bin', data));
    const info = await m.settle(a!.storage.files.info(ref));
    let reads = 0;
    for (const node of m.nodes) {
      const get = node.store.get.bind(node.store);
      node.store.get = ((...args: Parameters<typeof get>) => {
        reads++;
        return get(...args);
      }) as typeof node.store.get;
    }
    const got = await m.settle(a!.storage.files.getBytes(ref));
    expect(bytesEqual(got, data)).toBe(true);
    // Before the fix a reader done early with one shard fetched a (k + 1)th.
    expect(reads).toBe(info.stripes * info.k);
  });
});
