import { beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual, toBase64Url, utf8 } from '../../src/core/bytes.ts';
import { importStorageRootKey } from '../../src/core/storage/keys.ts';
import { signDelete } from '../../src/core/storage/owner.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import {
  StorageMesh,
  testContent,
  type StorageMeshOptions,
} from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';
import { createNodeWorkerCoder } from '../../src/platform/storage/worker-coder-node.ts';

/**
 * The storage service end to end on an in-memory mesh (real WebCrypto, real Reed-Solomon):
 * put/get, keys, what peers can see, delete. Faults are in storage-service-faults.test.ts.
 */
const MiB = 1024 * 1024;
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

const mesh = (n: number, seed: number, extra: Partial<StorageMeshOptions> = {}) =>
  StorageMesh.create(n, { seed, coder, ...extra });
const MARKER = utf8('WOS-PLAINTEXT-MARKER-7f3a');

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).includes(Buffer.from(needle));
}

describe('storage service on an in-memory mesh', () => {
  it('puts 10 MiB in 4 MiB stripes over 5 nodes and gets it back byte-identical; peers see no plaintext', async () => {
    const m = await mesh(5, 1);
    const [a] = m.nodes;
    const data = testContent(10 * MiB, 1, MARKER);
    const progress: number[] = [];
    const sent: number[] = [];
    const ref = await m.settle(
      a!.storage.files.put('quarterly-report.pdf', new Blob([data as Uint8Array<ArrayBuffer>]), {
        onProgress: (p) => {
          progress.push(p.bytes);
          sent.push(p.sent);
          expect(p.sent).toBeGreaterThanOrEqual(p.bytes);
        },
      }),
    );
    expect(ref).toMatchObject({ name: 'quarterly-report.pdf', size: 10 * MiB });
    expect(progress.at(-1)).toBe(10 * MiB);
    // `sent` moves piece by piece (250 KiB of a 2 MiB shard), well before the first stripe is
    // stored, never backwards here (no holder failed), and ends at the size.
    expect(sent.find((b) => b > 0)).toBeLessThan(MiB);
    expect(progress.findIndex((b) => b > 0)).toBeGreaterThan(10);
    expect(sent).toEqual([...sent].sort((x, y) => x - y));
    expect(sent.at(-1)).toBe(10 * MiB);
    const info = await m.settle(a!.storage.files.info(ref));
    // Four remote stores: k = 2, n = 4 (survives any two), none on the uploader.
    expect(info).toMatchObject({ k: 2, n: 4, stripes: 3, rev: 1 });
    expect(info.stores).not.toContain(a!.store.id);
    expect(a!.store.shards()).toHaveLength(0);
    for (const [, holders] of m.holdersOf(ref.id)) expect(holders).toHaveLength(1);
    for (let s = 0; s < 3; s++) {
      const stores = new Set(
        [0, 1, 2, 3].map((i) => m.holdersOf(ref.id).get(`${s}/${i}`)![0]!.store.id),
      );
      expect(stores.size).toBe(4);
    }
    // Streamed back: one chunk per stripe.
    const stream = await m.settle(m.nodes[3]!.storage.files.get(ref));
    const chunks: Uint8Array[] = [];
    const reader = stream.getReader();
    for (let r = await m.settle(reader.read()); !r.done; r = await m.settle(reader.read())) {
      chunks.push(r.value);
    }
    expect(chunks.map((c) => c.length)).toEqual([4 * MiB, 4 * MiB, 2 * MiB]);
    expect(bytesEqual(Buffer.concat(chunks), data)).toBe(true);
    // Holders keep ciphertext, hashes and an encrypted manifest: no marker, no name.
    for (const n of m.nodes) {
      for (const bytes of n.store.contents()) {
        expect(contains(bytes, MARKER)).toBe(false);
        expect(contains(bytes, utf8('quarterly-report'))).toBe(false);
      }
    }
  });

  it('a new node with the same storage key lists and reads the file; another key cannot', async () => {
    const m = await mesh(4, 2, { client: { stripeBytes: 256 * 1024 } });
    const data = testContent(700 * 1024, 2);
    const ref = await m.settle(
      m.nodes[0]!.storage.files.put('notes.txt', data, { type: 'text/plain' }),
    );
    const fresh = await m.add({ owner: await m.newOwner() });
    await m.advance(3000);
    const list = await m.settle(fresh.storage.files.list());
    expect(list.map((f) => [f.id, f.name, f.size, f.type])).toEqual([
      [ref.id, 'notes.txt', data.length, 'text/plain'],
    ]);
    expect(bytesEqual(await m.settle(fresh.storage.files.getBytes(list[0]!)), data)).toBe(true);
    // A different storage key: nothing listed, and reading by id is a clear error.
    const stranger = await m.add({ rootKey: await importStorageRootKey(m.subtle, m.bytes(32)) });
    await m.advance(3000);
    expect(await m.settle(stranger.storage.files.list())).toEqual([]);
    const err = await m.settle(stranger.storage.files.getBytes(ref.id).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'WRONG_KEY_OR_CORRUPT' });
    expect((err as Error).message).toMatch(/key is wrong/);
    // The same key on another device may read, but only the owner key deletes.
    const notOwner = await m.settle(fresh.storage.files.delete(ref).catch((e: unknown) => e));
    expect(notOwner).toMatchObject({ code: 'NOT_OWNER' });
    const unknown = await m.settle(
      fresh.storage.files.getBytes('A'.repeat(22)).catch((e: unknown) => e),
    );
    expect(unknown).toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('the owner deletes a file everywhere; forged deletes and garbage are refused', async () => {
    const m = await mesh(4, 7, { client: { stripeBytes: 256 * 1024 } });
    const [a, b] = m.nodes;
    const ref = await m.settle(a!.storage.files.put('todo.md', testContent(300 * 1024, 8)));
    const holder = m.holdersOf(ref.id).get('0/0')![0]!;
    // Another key signs a delete: the holder refuses it.
    const thief = await m.newOwner();
    const forged = {
      file: ref.id,
      owner: toBase64Url(thief.publicKey),
      sig: await signDelete(thief, ref.id),
    };
    const e1 = await m.settle(
      b!.node.bus.request(holder.node.id, 'st.delete', forged).catch((e: unknown) => e),
    );
    expect(e1).toMatchObject({ code: 'NOT_OWNER' });
    // A shard whose bytes do not match its hash is refused; so is a malformed request.
    const put = {
      file: ref.id,
      stripe: 9,
      index: 0,
      hash: 'A'.repeat(43),
      owner: forged.owner,
      size: 2,
      at: 0,
    };
    const e2 = await m.settle(
      b!.node.bus
        .request(holder.node.id, 'st.put', put, { bin: Uint8Array.of(1, 2) })
        .catch((e: unknown) => e),
    );
    expect(e2).toMatchObject({ code: 'HASH_MISMATCH' });
    const e3 = await m.settle(
      b!.node.bus.request(holder.node.id, 'st.get', { file: 'x' }).catch((e: unknown) => e),
    );
    expect(e3).toMatchObject({ code: 'INVALID_MESSAGE' });
    // The owner's delete removes every shard and manifest; the file stays gone.
    const { holders } = await m.settle(a!.storage.files.delete(ref));
    expect(holders).toBe(3);
    for (const n of m.nodes) expect(n.store.shards()).toEqual([]);
    expect(await m.settle(b!.storage.files.list())).toEqual([]);
    const gone = await m.settle(b!.storage.files.getBytes(ref).catch((e: unknown) => e));
    expect(gone).toMatchObject({ code: 'FILE_DELETED' });
  });
  it('stores a stream of odd chunks and an empty file; reads them as bytes, Blob or stream', async () => {
    const m = await mesh(4, 9, { client: { stripeBytes: 100 * 1024 } });
    const [a, b] = m.nodes;
    const data = testContent(333 * 1024 + 5, 9);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let o = 0; o < data.length; o += 7777) c.enqueue(data.slice(o, o + 7777));
        c.close();
      },
    });
    const ref = await m.settle(a!.storage.files.put('stream.bin', stream));
    expect(ref.size).toBe(data.length);
    expect(bytesEqual(await m.settle(b!.storage.files.getBytes(ref)), data)).toBe(true);
    const blob = await m.settle(b!.storage.files.getBlob(ref));
    expect(blob.size).toBe(data.length);
    const empty = await m.settle(a!.storage.files.put('empty.txt', new Uint8Array(0)));
    expect(empty.size).toBe(0);
    expect(await m.settle(b!.storage.files.getBytes(empty))).toEqual(new Uint8Array(0));
    const names = (await m.settle(b!.storage.files.list())).map((f) => f.name).sort();
    expect(names).toEqual(['empty.txt', 'stream.bin']);
    await expect(a!.storage.files.put('', new Uint8Array(1))).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    await expect(a!.storage.files.get('nope')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('with the worker coder (sealing in worker threads), a put from bytes, a Buffer or a stream reads back; the caller’s bytes are untouched', async () => {
    const workers = await createNodeWorkerCoder({ workers: 2 });
    try {
      const m = await mesh(5, 12, { coder: workers, client: { stripeBytes: 256 * 1024 } });
      const [a, b] = m.nodes;
      const data = testContent(MiB + 7, 12, MARKER);
      // A Node Buffer: its slice is a view, so a copy made with it would hand the caller's
      // memory to the worker (and cut the file short after its first stripe).
      const inputs: [string, () => Uint8Array | ReadableStream<Uint8Array>][] = [
        ['bytes', () => data.slice()],
        ['buffer', () => Buffer.from(data)],
        [
          'stream',
          () =>
            new ReadableStream<Uint8Array>({
              start(c) {
                for (let o = 0; o < data.length; o += 100_000)
                  c.enqueue(data.slice(o, o + 100_000));
                c.close();
              },
            }),
        ],
      ];
      for (const [name, input] of inputs) {
        const given = input();
        const ref = await m.settle(a!.storage.files.put(name, given));
        expect(ref.size).toBe(data.length);
        if (given instanceof Uint8Array) expect(bytesEqual(given, data)).toBe(true);
        expect(bytesEqual(await m.settle(b!.storage.files.getBytes(ref)), data)).toBe(true);
      }
      for (const bytes of m.nodes.flatMap((n) => [...n.store.contents()])) {
        expect(contains(bytes, MARKER)).toBe(false);
      }
    } finally {
      workers.close();
    }
  });
});
