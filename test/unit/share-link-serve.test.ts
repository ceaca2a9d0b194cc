import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeShareLink, shareCodeOf } from '../../src/core/account/share-link.ts';
import { bytesEqual, toBase64Url, utf8 } from '../../src/core/bytes.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ShareHost } from '../../src/core/share/share-host.ts';
import { readShared, type SharedFile } from '../../src/core/share/share-reader.ts';
import { MemoryShareRecords } from '../../src/core/share/share-records.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { StorageMesh, testContent } from '../../src/core/storage/testing/storage-mesh.ts';
import { MemoryChannel, MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * Sharing a file by link on an in-memory personal mesh (4 storage nodes) plus a second
 * in-memory network for the share's rendezvous mesh: the owner's ShareHost serves, guests with
 * no account or storage key read through it.
 */
const KiB = 1024;
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const MARKER = utf8('WOS-SHARE-PLAINTEXT-MARKER-51c9');

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).includes(Buffer.from(needle));
}

async function setup(seed: number) {
  const m = await StorageMesh.create(4, { seed, coder, client: { stripeBytes: 256 * KiB } });
  const rv = new MemoryNetwork(m.clock, { latencyMs: 1, jitterMs: 1, random: m.rand });
  let joins = 0;
  const joinMesh = async (meshKey: string): Promise<MeshNode> => {
    joins++;
    return (await createSimNode(rv, m.bytes, { meshKey })).node;
  };
  const owner = m.nodes[0]!;
  const records = new MemoryShareRecords();
  const hostOf = (r = records) =>
    new ShareHost(
      {
        files: owner.storage.files,
        records: r,
        subtle: m.subtle,
        random: m.bytes,
        clock: m.clock,
        joinMesh,
      },
      { linkBase: 'https://wos.test/' },
    );
  const host = hostOf();
  const guest = { subtle: m.subtle, coder, clock: m.clock, joinMesh };
  return { m, rv, owner, records, host, hostOf, guest, joins: () => joins };
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

describe('share links served by the owner, read by guests', () => {
  it('a guest reads byte-identical data with progress; each guest session counts once', async () => {
    const { m, owner, records, host, guest } = await setup(11);
    const data = testContent(700 * KiB + 13, 11, MARKER);
    const ref = await m.settle(owner.storage.files.put('holiday.mov', data, { type: 'video/mp4' }));
    const link = await m.settle(host.share(ref, { maxDownloads: 5 }));
    expect(link).toMatch(/^https:\/\/wos\.test\/#\/s\/[A-Za-z0-9_-]{152}$/);
    const progress: number[] = [];
    const f = await m.settle(
      readShared(guest, link, { onProgress: (p) => progress.push(p.bytes) }),
    );
    expect(f).toMatchObject({ id: ref.id, name: 'holiday.mov', type: 'video/mp4' });
    expect(f.size).toBe(data.length);
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
    expect(progress).toEqual([256 * KiB, 512 * KiB, data.length]);
    const [rec] = await records.list();
    expect(rec).toMatchObject({ file: ref.id, downloads: 1, maxDownloads: 5, revoked: false });
    // A second guest: a second download.
    const g2 = await m.settle(readShared(guest, shareCodeOf(link)));
    expect(bytesEqual(await readAll(m, g2), data)).toBe(true);
    expect((await records.list())[0]!.downloads).toBe(2);
    const server = [...(await host.servers()).values()][0]!;
    expect(server.stats.manifests).toBe(2);
  });

  it('a shard altered on a holder is caught by the guest, which reads another one', async () => {
    const { m, owner, host, guest } = await setup(12);
    const data = testContent(300 * KiB, 12);
    const ref = await m.settle(owner.storage.files.put('a.bin', data));
    const holder = m.holdersOf(ref.id).get('0/0')![0]!;
    holder.store.raw({ file: ref.id, stripe: 0, index: 0 })![5]! ^= 1;
    const link = await m.settle(host.share(ref));
    const f = await m.settle(readShared(guest, link));
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
  });

  it('the rendezvous mesh carries no plaintext, name, file key, link or personal mesh key', async () => {
    const { m, rv, owner, host, guest } = await setup(13);
    const frames: Uint8Array[] = [];
    const send = MemoryChannel.prototype.send;
    vi.spyOn(MemoryChannel.prototype, 'send').mockImplementation(function (
      this: MemoryChannel,
      frame: Uint8Array,
    ) {
      if (rv.get(this.localId)) frames.push(frame.slice());
      return send.call(this, frame);
    });
    const data = testContent(600 * KiB, 13, MARKER);
    const ref = await m.settle(owner.storage.files.put('secret-plans.txt', data));
    const link = await m.settle(host.share(ref));
    const f = await m.settle(readShared(guest, link));
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
    const keys = await owner.storage.files.shareKeys(ref.id, 0);
    const raw = async (k: CryptoKey) => new Uint8Array(await m.subtle.exportKey('raw', k));
    const secrets = [
      MARKER,
      utf8('secret-plans'),
      await raw(keys.content),
      await raw(keys.meta),
      utf8(toBase64Url(await raw(keys.content))),
      utf8(toBase64Url(await raw(keys.meta))),
      utf8(shareCodeOf(link).slice(0, 40)),
      utf8(m.meshKey),
    ];
    const bytes = frames.reduce((a, f) => a + f.length, 0);
    expect(bytes).toBeGreaterThan(600 * KiB);
    for (const fr of frames) for (const s of secrets) expect(contains(fr, s)).toBe(false);
  });

  it('a tampered link fails with SHARE_LINK_TAMPERED before any network', async () => {
    const { m, owner, host, guest, joins } = await setup(14);
    const ref = await m.settle(owner.storage.files.put('x', testContent(1000, 14)));
    const link = await m.settle(host.share(ref));
    const before = joins();
    const at = link.indexOf('#/s/') + 4 + 40;
    const bad = link.slice(0, at) + (link[at] === 'A' ? 'B' : 'A') + link.slice(at + 1);
    expect(await failure(m, readShared(guest, bad))).toMatchObject({ code: 'SHARE_LINK_TAMPERED' });
    expect(await failure(m, readShared(guest, link.slice(0, -9)))).toMatchObject({
      code: 'SHARE_LINK_TRUNCATED',
    });
    expect(joins()).toBe(before);
  });

  it('expired: the link itself fails early; a lagging guest clock is refused by the owner', async () => {
    const { m, owner, records, host, guest, joins } = await setup(15);
    const ref = await m.settle(owner.storage.files.put('x', testContent(5000, 15)));
    const link = await m.settle(host.share(ref, { expiresAt: m.clock.now() + 60_000 }));
    expect((await decodeShareLink(m.subtle, link)).expiresAt).toBe(
      (await records.list())[0]!.expiresAt,
    );
    await m.advance(61_000);
    const before = joins();
    expect(await failure(m, readShared(guest, link))).toMatchObject({
      code: 'SHARE_LINK_EXPIRED',
    });
    expect(joins()).toBe(before);
    // A guest whose clock is behind passes the link's own check; the owner's record refuses.
    const late = {
      ...guest,
      clock: Object.assign(Object.create(m.clock) as typeof m.clock, {
        now: () => m.clock.now() - 3600_000,
      }),
    };
    const e = await failure(m, readShared(late, link));
    expect(e).toMatchObject({ code: 'SHARE_EXPIRED' });
    expect((e as Error).message).toMatch(/expired/);
    expect((await records.list())[0]!.downloads).toBe(0);
  });

  it('revoked: refused before and during a download', async () => {
    const { m, owner, records, host, hostOf, guest } = await setup(16);
    const data = testContent(1000 * KiB, 16);
    const ref = await m.settle(owner.storage.files.put('big.bin', data));
    const link = await m.settle(host.share(ref));
    // Started before the revocation: the manifest and the first stripe came; the rest stops.
    const f = await m.settle(readShared(guest, link, { readAhead: 1 }));
    const reader = f.stream.getReader();
    const first = await m.settle(reader.read());
    expect(first.value?.length).toBe(256 * KiB);
    await m.settle(host.revoke(link));
    const mid = await failure(
      m,
      (async () => {
        for (let r = await reader.read(); !r.done; r = await reader.read());
      })(),
    );
    expect(mid).toMatchObject({ code: 'SHARE_REVOKED' });
    expect(await failure(m, readShared(guest, link))).toMatchObject({ code: 'SHARE_REVOKED' });
    expect((await records.list())[0]).toMatchObject({ revoked: true, downloads: 1 });
    // A device without the record cannot revoke it (nor can a link to another share).
    const stranger = hostOf(new MemoryShareRecords());
    expect(await failure(m, stranger.revoke(link))).toMatchObject({ code: 'SHARE_NOT_FOUND' });
  });

  it('over the limit: SHARE_LIMIT_REACHED for a new guest session', async () => {
    const { m, owner, records, host, guest } = await setup(17);
    const data = testContent(50 * KiB, 17);
    const ref = await m.settle(owner.storage.files.put('once.txt', data));
    const link = await m.settle(host.share(ref, { maxDownloads: 1 }));
    const f = await m.settle(readShared(guest, link));
    expect(bytesEqual(await readAll(m, f), data)).toBe(true);
    const e = await failure(m, readShared(guest, link));
    expect(e).toMatchObject({ code: 'SHARE_LIMIT_REACHED' });
    expect((await records.list())[0]!.downloads).toBe(1);
  });
});
