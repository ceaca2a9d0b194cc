import { beforeAll, describe, expect, it } from 'vitest';
import { decodeShareLink } from '../../src/core/account/share-link.ts';
import { bytesEqual, toBase64Url } from '../../src/core/bytes.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ShareHost } from '../../src/core/share/share-host.ts';
import { readShared, type SharedFile } from '../../src/core/share/share-reader.ts';
import { MemoryShareRecords } from '../../src/core/share/share-records.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { StorageMesh, testContent } from '../../src/core/storage/testing/storage-mesh.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * What a share link's guest cannot do: reach another file, another share, or anything but
 * reading; and what happens when the owner's devices are away or come back.
 */
const KiB = 1024;
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

async function setup(seed: number) {
  const m = await StorageMesh.create(4, { seed, coder, client: { stripeBytes: 128 * KiB } });
  const rv = new MemoryNetwork(m.clock, { latencyMs: 1, jitterMs: 1, random: m.rand });
  const joinMesh = async (meshKey: string): Promise<MeshNode> =>
    (await createSimNode(rv, m.bytes, { meshKey })).node;
  const owner = m.nodes[0]!;
  const records = new MemoryShareRecords();
  const hostOf = () =>
    new ShareHost({
      files: owner.storage.files,
      records,
      subtle: m.subtle,
      random: m.bytes,
      clock: m.clock,
      joinMesh,
    });
  const guest = { subtle: m.subtle, coder, clock: m.clock, joinMesh };
  return { m, owner, records, host: hostOf(), hostOf, guest, joinMesh };
}

async function readAll(m: StorageMesh, f: SharedFile): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = f.stream.getReader();
  for (let r = await m.settle(reader.read()); !r.done; r = await m.settle(reader.read())) {
    parts.push(r.value);
  }
  return new Uint8Array(Buffer.concat(parts));
}

const failure = (m: StorageMesh, p: Promise<unknown>) => m.settle(p.catch((e: unknown) => e));

describe('a share link guest', () => {
  it("cannot fetch another file's shards, another share, or put and delete", async () => {
    const { m, owner, host, joinMesh } = await setup(21);
    const shared = await m.settle(owner.storage.files.put('shared.txt', testContent(200 * KiB, 1)));
    const other = await m.settle(owner.storage.files.put('private.txt', testContent(200 * KiB, 2)));
    const link = await m.settle(host.share(shared));
    const decoded = await decodeShareLink(m.subtle, link);
    const share = toBase64Url(decoded.shareId);
    // A hand-made guest on the rendezvous mesh, speaking the protocol directly.
    const g = await joinMesh(decoded.meshKey);
    await m.settle(g.start());
    await m.advance(500);
    const server = g.members.alive()[0]!.id;
    const ask = (type: string, body: unknown, bin?: Uint8Array) =>
      failure(m, g.bus.request(server, type, body, bin ? { bin } : {}));
    // Shards before the manifest: no session.
    const piece = { share, stripe: 0, index: 0, from: 0, len: 100 };
    expect(await ask('sh.shard', piece)).toMatchObject({ code: 'SHARE_NO_SESSION' });
    const man = (await ask('sh.manifest', { share })) as { body: { manifest: { m: string } } };
    expect(JSON.parse(man.body.manifest.m)).toMatchObject({ file: shared.id });
    // The request names no file: naming one is malformed; another share id is unknown here.
    expect(await ask('sh.shard', { ...piece, file: other.id })).toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    expect(await ask('sh.manifest', { share: 'AAAAAAAAAAA' })).toMatchObject({
      code: 'SHARE_NOT_FOUND',
    });
    // Outside the shared file's layout.
    expect(await ask('sh.shard', { ...piece, stripe: 7 })).toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    expect(await ask('sh.shard', { ...piece, from: 10 ** 6 })).toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    const ok = (await ask('sh.shard', piece)) as { bin: Uint8Array };
    expect(ok.bin).toHaveLength(100);
    // Storage requests do not exist on the rendezvous mesh: no st.get of the other file,
    // no put, no delete, no manifest write.
    for (const [type, body] of [
      ['st.get', { file: other.id, stripe: 0, index: 0, from: 0, len: 10 }],
      ['st.manifest.get', { file: other.id }],
      [
        'st.put',
        {
          file: other.id,
          stripe: 0,
          index: 0,
          hash: 'A'.repeat(43),
          owner: 'A'.repeat(87),
          size: 1,
          at: 0,
        },
      ],
      ['st.delete', { file: shared.id, owner: 'A'.repeat(87), sig: 'A'.repeat(86) }],
      ['st.manifest.put', { m: '{}', sig: 'A'.repeat(86) }],
    ] as const) {
      const e = await ask(type, body, type === 'st.put' ? Uint8Array.of(1) : undefined);
      expect(e).toMatchObject({ code: 'INVALID_MESSAGE' });
      expect((e as Error).message).toMatch(/unknown message type/);
    }
    // Both files are intact for the owner.
    expect(await m.settle(owner.storage.files.getBytes(other))).toHaveLength(200 * KiB);
    expect(await m.settle(owner.storage.files.getBytes(shared))).toHaveLength(200 * KiB);
    await m.settle(g.close());
  });

  it('the owner away: SHARE_UNAVAILABLE; a restarted host serves the recorded share again', async () => {
    const { m, owner, records, host, hostOf, guest } = await setup(22);
    const data = testContent(300 * KiB, 22);
    const ref = await m.settle(owner.storage.files.put('later.bin', data));
    const link = await m.settle(host.share(ref));
    await m.settle(host.stop());
    const e = await failure(m, readShared(guest, link, { waitMs: 3000 }));
    expect(e).toMatchObject({ code: 'SHARE_UNAVAILABLE' });
    // "Reload": a new host over the same records.
    const again = hostOf();
    await m.settle(again.start());
    const f = await m.settle(readShared(guest, link));
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
    expect((await records.list())[0]!.downloads).toBe(1);
    await m.settle(again.stop());
  });

  it('the owner deletes the file: FILE_DELETED, not a hang', async () => {
    const { m, owner, host, guest } = await setup(23);
    const ref = await m.settle(owner.storage.files.put('gone.bin', testContent(10 * KiB, 23)));
    const link = await m.settle(host.share(ref));
    await m.settle(owner.storage.files.delete(ref));
    expect(await failure(m, readShared(guest, link))).toMatchObject({ code: 'FILE_DELETED' });
  });

  it('two guests at once on a one-download link: exactly one gets it', async () => {
    const { m, owner, records, host, guest } = await setup(25);
    const data = testContent(40 * KiB, 25);
    const ref = await m.settle(owner.storage.files.put('one.bin', data));
    const link = await m.settle(host.share(ref, { maxDownloads: 1 }));
    const both = await m.settle(
      Promise.allSettled([readShared(guest, link), readShared(guest, link)]),
    );
    const won = both.filter((r) => r.status === 'fulfilled');
    const lost = both.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({
      code: 'SHARE_LIMIT_REACHED',
    });
    const f = (won[0] as PromiseFulfilledResult<SharedFile>).value;
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
    expect((await records.list())[0]!.downloads).toBe(1);
  });

  it('share arguments are checked; an unknown file cannot be shared', async () => {
    const { m, host } = await setup(24);
    expect(await failure(m, host.share('A'.repeat(22)))).toMatchObject({ code: 'FILE_NOT_FOUND' });
    expect(await failure(m, host.share('A'.repeat(22), { maxDownloads: 0 }))).toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    expect(
      await failure(m, host.share('A'.repeat(22), { expiresAt: m.clock.now() - 1 })),
    ).toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
