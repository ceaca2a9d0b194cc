import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/core/bytes.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';
import { computeHealth, stripeTolerance } from '../../src/core/storage/health.ts';
import { importStorageRootKey, deriveFileKeys } from '../../src/core/storage/keys.ts';
import {
  openManifest,
  parseManifest,
  sealManifestMeta,
  signManifest,
  verifyManifest,
  type ManifestBody,
  type ManifestMeta,
} from '../../src/core/storage/manifest.ts';
import { MemoryShardStore } from '../../src/core/storage/memory-shard-store.ts';
import { deriveListTag, ecdsaVerifier } from '../../src/core/storage/owner.ts';
import { placeShards, type Candidate } from '../../src/core/storage/placement.ts';
import { stripeSource } from '../../src/core/storage/stripe-source.ts';

const subtle = globalThis.crypto.subtle;
const random = (n: number): Uint8Array => globalThis.crypto.getRandomValues(new Uint8Array(n));
const verify = ecdsaVerifier(subtle);
const H = 'A'.repeat(43);

describe('MemoryShardStore', () => {
  const info = (index: number, size: number) => ({
    file: 'f'.repeat(22),
    stripe: 0,
    index,
    size,
    hash: H,
    storedAt: 0,
  });

  it('enforces its quota atomically: a put over it stores nothing', async () => {
    const s = new MemoryShardStore(100);
    await s.put(info(0, 60), new Uint8Array(60));
    const err = await s.put(info(1, 50), new Uint8Array(50)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'QUOTA_FULL' });
    expect((err as Error).message).toMatch(/does not fit/);
    expect(await s.usage()).toBe(60);
    expect(await s.get(info(1, 0))).toBeUndefined();
    // Replacing a shard counts only the difference.
    await s.put(info(0, 100), new Uint8Array(100));
    expect(await s.usage()).toBe(100);
    expect(await s.delete(info(0, 0))).toBe(true);
    expect(await s.usage()).toBe(0);
  });

  it('lists by file, hands out copies, deletes a file with its shards', async () => {
    const s = new MemoryShardStore(1000);
    await s.put(info(0, 3), Uint8Array.of(1, 2, 3));
    await s.put({ ...info(0, 1), file: 'g'.repeat(22) }, Uint8Array.of(9));
    await s.putFile({ file: 'f'.repeat(22), owner: 'o', touchedAt: 1 });
    expect((await s.list('f'.repeat(22))).map((x) => x.index)).toEqual([0]);
    const got = (await s.get(info(0, 0)))!;
    got[0] = 99;
    expect((await s.get(info(0, 0)))![0]).toBe(1);
    await s.deleteFile('f'.repeat(22));
    expect(await s.list('f'.repeat(22))).toEqual([]);
    expect(await s.getFile('f'.repeat(22))).toBeUndefined();
    expect(await s.usage()).toBe(1);
  });
});

describe('manifest', () => {
  async function fixture() {
    const root = await importStorageRootKey(subtle, random(32));
    const owner = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
    const fileId = random(16);
    const keys = await deriveFileKeys(subtle, root, fileId);
    const ownerKey = toBase64Url(owner.publicKey);
    const meta: ManifestMeta = {
      v: 1,
      owner: ownerKey,
      rev: 1,
      name: 'secret-report.pdf',
      type: 'application/pdf',
      size: 10,
      stripeBytes: 4,
      created: 5,
    };
    const body: ManifestBody = {
      v: 1,
      file: toBase64Url(fileId),
      rev: 1,
      owner: ownerKey,
      tag: await deriveListTag(subtle, root),
      k: 2,
      n: 3,
      stores: ['storeAAAA', 'storeBBBB', 'storeCCCC'],
      // 10 bytes in stripes of 4: lengths 4, 4, 2 → shard sizes 2+16, 2+16, 1+16.
      stripes: [18, 18, 17].map((size) => ({
        size,
        shards: [
          [H, 0],
          [H, 1],
          [H, 2],
        ] as [string, number][],
      })),
      meta: await sealManifestMeta(subtle, keys, random, meta),
    };
    return { root, owner, ownerKey, body, meta, keys };
  }

  it('signs, verifies and opens; the name is not in the clear', async () => {
    const f = await fixture();
    const signed = await signManifest(f.body, f.owner);
    expect(signed.m).not.toContain('secret-report');
    expect((await verifyManifest(signed, verify, f.ownerKey)).rev).toBe(1);
    const man = await openManifest(subtle, f.root, signed, verify);
    expect(man.meta.name).toBe('secret-report.pdf');
    expect(man.body.stripes).toHaveLength(3);
  });

  it('rejects tampering, another owner, a wrong key and inconsistent layouts', async () => {
    const f = await fixture();
    const signed = await signManifest(f.body, f.owner);
    const tampered = { ...signed, m: signed.m.replace('"rev":1', '"rev":2') };
    await expect(verifyManifest(tampered, verify)).rejects.toMatchObject({ code: 'BAD_MANIFEST' });
    await expect(verifyManifest(signed, verify, 'x'.repeat(87))).rejects.toMatchObject({
      code: 'NOT_OWNER',
    });
    const wrongRoot = await importStorageRootKey(subtle, random(32));
    await expect(openManifest(subtle, wrongRoot, signed, verify)).rejects.toMatchObject({
      code: 'WRONG_KEY_OR_CORRUPT',
    });
    // Someone else re-signs the owner's sealed part under their own key: the sealed owner differs.
    const thief = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
    const stolen = await signManifest({ ...f.body, owner: toBase64Url(thief.publicKey) }, thief);
    await expect(openManifest(subtle, f.root, stolen, verify)).rejects.toMatchObject({
      code: 'BAD_MANIFEST',
    });
    const short = await signManifest({ ...f.body, stripes: f.body.stripes.slice(0, 2) }, f.owner);
    await expect(openManifest(subtle, f.root, short, verify)).rejects.toThrow(/2 stripes listed/);
    expect(() =>
      parseManifest({ m: JSON.stringify({ ...f.body, k: 3 }), sig: signed.sig }),
    ).toThrow(/k must be below n/);
    expect(() => parseManifest({ m: '{', sig: signed.sig })).toThrow(/not JSON/);
  });
});

describe('placement', () => {
  const c = (
    store: string,
    device: string,
    rttMs: number,
    freeBytes = 1e9,
    reliability = 1,
  ): Candidate => ({
    node: `${device}-${store}`,
    store,
    device,
    freeBytes,
    rttMs,
    reliability,
  });

  it('puts each shard on a different store, different devices first, then by RTT', () => {
    const cands = [c('a1', 'A', 1), c('a2', 'A', 2), c('b1', 'B', 30), c('c1', 'C', 60)];
    expect(placeShards(cands, 3, { bytes: 10 }).map((x) => x.store)).toEqual(['a1', 'b1', 'c1']);
    expect(placeShards(cands, 4, { bytes: 10 }).map((x) => x.store)).toEqual([
      'a1',
      'b1',
      'c1',
      'a2',
    ]);
    expect(placeShards(cands, 4, { bytes: 10, usedDevices: ['A'] })[0]!.store).toBe('b1');
  });

  it('skips stores without room, stores to avoid, and prefers reliable ones', () => {
    const cands = [c('a', 'A', 1, 5), c('b', 'B', 1), c('c', 'C', 1, 1e9, 0.3), c('d', 'D', 1)];
    const picked = placeShards(cands, 5, { bytes: 10, avoidStores: new Set(['d']) }).map(
      (x) => x.store,
    );
    expect(picked).toEqual(['b', 'c']);
  });
});

describe('health', () => {
  it('counts the worst-case store losses per stripe', () => {
    expect(stripeTolerance(['a', 'b', 'c', 'd'], 2)).toBe(2);
    expect(stripeTolerance(['a', 'a', 'a'], 1)).toBe(0);
    expect(stripeTolerance(['a', 'a', 'b'], 1)).toBe(1);
    expect(stripeTolerance(['a'], 2)).toBe(-1);
  });

  it('rates a file by its weakest stripe', () => {
    const ok = (store: string) => ({ store, status: 'ok' as const });
    const off = (store: string) => ({ store, status: 'offline' as const });
    expect(computeHealth(2, 4, [[ok('a'), ok('b'), ok('c'), ok('d')]]).state).toBe('healthy');
    expect(computeHealth(2, 4, [[ok('a'), ok('b'), ok('c'), off('d')]]).state).toBe('degraded');
    const risky = computeHealth(2, 4, [[ok('a'), ok('b'), off('c'), off('d')]]);
    expect(risky).toMatchObject({ state: 'at-risk', tolerance: 0, shards: { ok: 2, offline: 2 } });
    expect(computeHealth(2, 4, [[ok('a'), off('b'), off('c'), off('d')]]).state).toBe('lost');
    const local = computeHealth(1, 3, [[ok('me'), ok('me'), ok('me')]]);
    expect(local).toMatchObject({ state: 'at-risk', crowded: 2, stores: 1 });
  });
});

describe('stripe source', () => {
  it('cuts a stream of odd chunks into exact stripes and sees the end', async () => {
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let o = 0; o < data.length; o += 77) ctl.enqueue(data.slice(o, o + 77));
        ctl.close();
      },
    });
    const src = stripeSource(stream, 300);
    const parts: Uint8Array[] = [];
    for (let p = await src.next(); p; p = await src.next()) {
      parts.push(p);
      if (await src.atEnd()) break;
    }
    expect(parts.map((p) => p.length)).toEqual([300, 300, 300, 100]);
    expect(Buffer.concat(parts)).toEqual(Buffer.from(data));
  });

  it('reads a Blob by slices and bytes by views; rejects other input', async () => {
    const blob = new Blob([new Uint8Array(10).fill(7)]);
    const src = stripeSource(blob, 4);
    expect(src.size).toBe(10);
    expect((await src.next())!.length).toBe(4);
    expect(await src.atEnd()).toBe(false);
    await src.next();
    expect((await src.next())!.length).toBe(2);
    expect(await src.atEnd()).toBe(true);
    expect(await src.next()).toBeUndefined();
    expect(() => stripeSource('text' as unknown as Blob, 4)).toThrow(/Blob, a ReadableStream/);
  });
});
