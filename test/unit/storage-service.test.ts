import { beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url, utf8 } from '../../src/core/bytes.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { importStorageRootKey } from '../../src/core/storage/keys.ts';
import { parseManifest } from '../../src/core/storage/manifest.ts';
import { signDelete } from '../../src/core/storage/owner.ts';
import { StorageMesh, type StorageSimNode } from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

const MiB = 1024 * 1024;
const MARKER = utf8('WOS-PLAINTEXT-MARKER-7f3a');

let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

/** Seeded bytes with the marker planted every 64 KiB. */
function content(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  for (let o = 0; o + MARKER.length <= size; o += 64 * 1024) out.set(MARKER, o);
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).includes(Buffer.from(needle));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** Which stores hold which shards of a file now. */
function holdersOf(mesh: StorageMesh, file: string): Map<string, StorageSimNode[]> {
  const out = new Map<string, StorageSimNode[]>();
  for (const n of mesh.nodes) {
    for (const s of n.store.shards().filter((x) => x.file === file)) {
      const key = `${s.stripe}/${s.index}`;
      const list = out.get(key) ?? [];
      if (!list.includes(n)) list.push(n);
      out.set(key, list);
    }
  }
  return out;
}

const mesh = (
  n: number,
  seed: number,
  extra: Partial<Parameters<typeof StorageMesh.create>[1]> = {},
) => StorageMesh.create(n, { seed, coder, ...extra });

describe('storage service on an in-memory mesh', () => {
  it('puts 10 MiB in 4 MiB stripes over 5 nodes and gets it back byte-identical; peers see no plaintext', async () => {
    const m = await mesh(5, 1);
    const [a] = m.nodes;
    const data = content(10 * MiB, 1);
    const progress: number[] = [];
    const ref = await m.settle(
      a!.storage.files.put('quarterly-report.pdf', new Blob([data as Uint8Array<ArrayBuffer>]), {
        onProgress: (p) => progress.push(p.bytes),
      }),
    );
    expect(ref).toMatchObject({ name: 'quarterly-report.pdf', size: 10 * MiB });
    expect(progress.at(-1)).toBe(10 * MiB);
    const info = await m.settle(a!.storage.files.info(ref));
    // Four remote stores: k = 2, n = 4 (survives any two), none on the uploader.
    expect(info).toMatchObject({ k: 2, n: 4, stripes: 3, rev: 1 });
    expect(info.stores).not.toContain(a!.store.id);
    expect(a!.store.shards()).toHaveLength(0);
    for (const [, holders] of holdersOf(m, ref.id)) expect(holders).toHaveLength(1);
    for (let s = 0; s < 3; s++) {
      const stores = new Set(
        [0, 1, 2, 3].map((i) => holdersOf(m, ref.id).get(`${s}/${i}`)![0]!.store.id),
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
    expect(same(Buffer.concat(chunks), data)).toBe(true);
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
    const data = content(700 * 1024, 2);
    const ref = await m.settle(
      m.nodes[0]!.storage.files.put('notes.txt', data, { type: 'text/plain' }),
    );
    const fresh = await m.add({ owner: await m.newOwner() });
    await m.advance(3000);
    const list = await m.settle(fresh.storage.files.list());
    expect(list.map((f) => [f.id, f.name, f.size, f.type])).toEqual([
      [ref.id, 'notes.txt', data.length, 'text/plain'],
    ]);
    expect(same(await m.settle(fresh.storage.files.getBytes(list[0]!)), data)).toBe(true);
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

  it('reads with n − k holders gone; repair restores full redundancy on new nodes', async () => {
    const m = await mesh(5, 3, { client: { stripeBytes: 512 * 1024 } });
    const [a] = m.nodes;
    const data = content(1536 * 1024 + 123, 3);
    const ref = await m.settle(a!.storage.files.put('video.mp4', data));
    const info = await m.settle(a!.storage.files.info(ref));
    expect(info.n - info.k).toBe(2);
    const victims = m.nodes.filter((n) => info.stores.includes(n.store.id)).slice(0, 2);
    m.crash(victims[0]!);
    await m.leave(victims[1]!);
    await m.advance(5000);
    expect(same(await m.settle(a!.storage.files.getBytes(ref)), data)).toBe(true);
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
    expect(same(await m.settle(reader.storage.files.getBytes(ref)), data)).toBe(true);
  });

  it('detects a corrupted shard by its hash, still reads, and repair moves it to another node', async () => {
    const m = await mesh(5, 4, { client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = content(600 * 1024, 4);
    const ref = await m.settle(a!.storage.files.put('photo.jpg', data));
    const holder = holdersOf(m, ref.id).get('0/0')![0]!;
    holder.store.raw({ file: ref.id, stripe: 0, index: 0 })![10]! ^= 0xff;
    const bad: string[] = [];
    a!.storage.files.on('badShard', (b) => bad.push(`${b.stripe}/${b.index}@${b.store}`));
    // Every node reads the right bytes; one that picks the altered shard reports it.
    for (const n of m.nodes)
      expect(same(await m.settle(n.storage.files.getBytes(ref)), data)).toBe(true);
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

  it('a full quota is a clear error and leaves nothing behind', async () => {
    const m = await mesh(4, 5, { quotaBytes: 300 * 1024, client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const err = await m.settle(
      a!.storage.files.put('big.bin', content(2 * MiB, 5)).catch((e: unknown) => e),
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
    const put = a!.storage.files.put('draft.doc', content(2 * MiB, 6), {
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
    const dying = c.storage.files.put('half.bin', content(2 * MiB, 7), {
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

  it('the owner deletes a file everywhere; forged deletes and garbage are refused', async () => {
    const m = await mesh(4, 7, { client: { stripeBytes: 256 * 1024 } });
    const [a, b] = m.nodes;
    const ref = await m.settle(a!.storage.files.put('todo.md', content(300 * 1024, 8)));
    const holder = holdersOf(m, ref.id).get('0/0')![0]!;
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

  it('with too few nodes shards wait locally; repair moves them out when peers come', async () => {
    const m = await mesh(1, 8, { client: { stripeBytes: 256 * 1024 } });
    const [a] = m.nodes;
    const data = content(400 * 1024, 9);
    const ref = await m.settle(a!.storage.files.put('alone.txt', data));
    expect(await m.settle(a!.storage.files.health(ref))).toMatchObject({
      state: 'at-risk',
      k: 1,
      n: 3,
      crowded: 4,
      stores: 1,
    });
    expect(same(await m.settle(a!.storage.files.getBytes(ref)), data)).toBe(true);
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
    expect(same(await m.settle(other.storage.files.getBytes(ref)), data)).toBe(true);
  });
});
