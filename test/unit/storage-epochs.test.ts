import { beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { importStorageRootKey } from '../../src/core/storage/keys.ts';
import { Emitter } from '../../src/core/emitter.ts';
import {
  followEpochKeys,
  keyRingFrom,
  keyRingOf,
  singleRootRing,
} from '../../src/core/storage/key-ring.ts';
import { openManifest, parseManifest } from '../../src/core/storage/manifest.ts';
import { ecdsaVerifier } from '../../src/core/storage/owner.ts';
import { StorageMesh, testContent } from '../../src/core/storage/testing/storage-mesh.ts';
import { createNodeErasureCoder } from '../../src/platform/storage/rs-wasm-node.ts';

/**
 * Storage epochs on an in-memory mesh: every file records the epoch it was written under, is
 * opened with that epoch's root and listed under that epoch's tag; a device lists and reads
 * the files of every epoch it holds, and a file of an epoch it lacks is EPOCH_KEY_MISSING.
 */
let coder: ErasureCoder;
beforeAll(async () => {
  coder = await createNodeErasureCoder();
});

async function setup(seed: number) {
  const m = await StorageMesh.create(4, { seed, coder, client: { stripeBytes: 64 * 1024 } });
  const root0 = m.rootKey;
  const root1 = await importStorageRootKey(m.subtle, m.bytes(32));
  const ring0 = await singleRootRing(m.subtle, root0);
  const ring01 = await keyRingOf(m.subtle, [
    { epoch: 0, root: root0 },
    { epoch: 1, root: root1 },
  ]);
  return { m, root0, root1, ring0, ring01 };
}

/** The epoch field of the manifest the holders keep for `file`. */
async function storedEpoch(m: StorageMesh, file: string): Promise<number | undefined> {
  for (const n of m.nodes) {
    const e = await n.store.getFile(file);
    if (e?.manifest) return parseManifest(e.manifest.signed).epoch;
  }
  throw new Error(`no holder has the manifest of ${file}`);
}

describe('storage epochs', () => {
  it('lists and reads files of epochs 0 and 1 on a device holding both; one holding only epoch 0 sees only its files', async () => {
    const { m, ring0, ring01 } = await setup(41);
    const old = testContent(150 * 1024, 1);
    const fresh = testContent(90 * 1024, 2);
    // m.nodes use the bare epoch-0 root (storage without an account: epoch 0).
    const ref0 = await m.settle(m.nodes[0]!.storage.files.put('before.bin', old));
    const writer = await m.add({ keyRing: ring01 });
    await m.advance(3000);
    expect(writer.storage.files.keyRing.current.epoch).toBe(1);
    const ref1 = await m.settle(writer.storage.files.put('after.bin', fresh));
    expect(await storedEpoch(m, ref0.id)).toBeUndefined();
    expect(await storedEpoch(m, ref1.id)).toBe(1);

    const both = await m.add({ keyRing: ring01, owner: await m.newOwner() });
    await m.advance(3000);
    const listed = await m.settle(both.storage.files.list());
    expect(listed.map((f) => [f.name, f.epoch]).sort()).toEqual([
      ['after.bin', 1],
      ['before.bin', 0],
    ]);
    expect(bytesEqual(await m.settle(both.storage.files.getBytes(ref0)), old)).toBe(true);
    expect(bytesEqual(await m.settle(both.storage.files.getBytes(ref1)), fresh)).toBe(true);

    const revoked = await m.add({ keyRing: ring0, owner: await m.newOwner() });
    await m.advance(3000);
    const seen = await m.settle(revoked.storage.files.list());
    expect(seen.map((f) => f.name)).toEqual(['before.bin']);
    expect(bytesEqual(await m.settle(revoked.storage.files.getBytes(ref0)), old)).toBe(true);
    const err = await m.settle(revoked.storage.files.getBytes(ref1).catch((e: unknown) => e));
    expect(err).toMatchObject({ code: 'EPOCH_KEY_MISSING', epoch: 1 });
    expect((err as Error).message).toMatch(/holds no key of storage epoch 1; approve it/);
    // Nor can it mint a share link for it.
    await expect(revoked.storage.files.shareKeys(ref1.id, 1)).rejects.toMatchObject({
      code: 'EPOCH_KEY_MISSING',
    });
    // Opening the manifest with the epoch-0 root directly fails authentication.
    const { signed } = await m.settle(writer.storage.files.manifest(ref1));
    await expect(
      openManifest(m.subtle, m.rootKey, signed, ecdsaVerifier(m.subtle)),
    ).rejects.toMatchObject({ code: 'WRONG_KEY_OR_CORRUPT' });
  });

  it('after switching the current epoch new puts use it, old files stay listed, readable, repairable and deletable', async () => {
    const { m, ring0, ring01 } = await setup(42);
    const a = await m.add({ keyRing: ring0 });
    await m.advance(3000);
    const old = testContent(200 * 1024 + 7, 3);
    const ref0 = await m.settle(a.storage.files.put('old.bin', old));
    const gone = await m.settle(a.storage.files.put('gone.bin', testContent(1000, 4)));
    expect(a.storage.files.keyRing.current.epoch).toBe(0);
    // A ring that drops a held epoch is refused: no file may lose its key.
    const only1 = await keyRingOf(m.subtle, [{ epoch: 1, root: ring01.all[1]!.root }]);
    expect(() => a.storage.files.setKeyRing(only1)).toThrow(/lacks epoch 0/);

    a.storage.files.setKeyRing(ring01);
    const fresh = testContent(70 * 1024, 5);
    const ref1 = await m.settle(a.storage.files.put('new.bin', fresh));
    expect(await storedEpoch(m, ref1.id)).toBe(1);
    expect((await m.settle(a.storage.files.info(ref1))).epoch).toBe(1);
    expect((await m.settle(a.storage.files.list())).map((f) => f.name).sort()).toEqual([
      'gone.bin',
      'new.bin',
      'old.bin',
    ]);
    expect(bytesEqual(await m.settle(a.storage.files.getBytes(ref0)), old)).toBe(true);
    expect(bytesEqual(await m.settle(a.storage.files.getBytes(ref1)), fresh)).toBe(true);

    // Repair of the epoch-0 file after the switch: it stays an epoch-0 file under its own tag.
    const info = await m.settle(a.storage.files.info(ref0));
    const victim = m.nodes.find((n) => info.stores.includes(n.store.id))!;
    m.crash(victim);
    await m.add();
    await m.advance(5000);
    const report = await m.settle(a.storage.files.repair(ref0));
    expect(report.rebuilt).toBeGreaterThan(0);
    expect(report.after.state).toBe('healthy');
    expect(await storedEpoch(m, ref0.id)).toBeUndefined();
    const reader = await m.add({ keyRing: ring0, owner: await m.newOwner() });
    await m.advance(3000);
    expect((await m.settle(reader.storage.files.list())).map((f) => f.name).sort()).toEqual([
      'gone.bin',
      'old.bin',
    ]);
    expect(bytesEqual(await m.settle(reader.storage.files.getBytes(ref0)), old)).toBe(true);

    // Delete of an epoch-0 file and of an epoch-1 file, both after the switch.
    await m.settle(a.storage.files.delete(gone));
    await m.settle(a.storage.files.delete(ref1));
    expect((await m.settle(a.storage.files.list())).map((f) => f.name)).toEqual(['old.bin']);
    await expect(m.settle(a.storage.files.getBytes(gone))).rejects.toMatchObject({
      code: 'FILE_DELETED',
    });
  });

  it('builds a ring from a session-like source: every epoch held, the newest current', async () => {
    const { m, root0, root1 } = await setup(43);
    const asked: number[] = [];
    const ring = await keyRingFrom(m.subtle, {
      epochs: [0, 1],
      storageRootKey: (e) => (asked.push(e), Promise.resolve(e === 0 ? root0 : root1)),
    });
    expect(asked.sort()).toEqual([0, 1]);
    expect(ring.current.epoch).toBe(1);
    expect(ring.all.map((r) => r.epoch)).toEqual([0, 1]);
    expect(ring.all[0]!.tag).not.toBe(ring.all[1]!.tag);
    await expect(keyRingOf(m.subtle, [])).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('follows the epoch keys the personal mesh learns: new puts switch without a restart', async () => {
    const { m, ring0 } = await setup(44);
    const a = await m.add({ keyRing: ring0 });
    await m.advance(3000);
    const ref0 = await m.settle(a.storage.files.put('zero.bin', testContent(5000, 6)));
    const mesh = new Emitter<{ epoch: { epoch: number; key: Uint8Array } }>();
    const errors: unknown[] = [];
    const done = followEpochKeys(m.subtle, mesh, a.storage.files, (e) => errors.push(e));
    const raw2 = m.bytes(32);
    mesh.emit('epoch', { epoch: 2, key: raw2 });
    mesh.emit('epoch', { epoch: 3, key: new Uint8Array(5) }); // malformed: reported, ignored
    await m.settle(done());
    expect(errors).toHaveLength(1);
    expect(a.storage.files.keyRing.all.map((r) => r.epoch)).toEqual([0, 2]);
    const ref2 = await m.settle(a.storage.files.put('two.bin', testContent(5000, 7)));
    expect(await storedEpoch(m, ref2.id)).toBe(2);
    expect((await m.settle(a.storage.files.list())).map((f) => [f.name, f.epoch]).sort()).toEqual([
      ['two.bin', 2],
      ['zero.bin', 0],
    ]);
    // Another device that holds the same epoch-2 key reads it; the key really is the one granted.
    const ring02 = await keyRingOf(m.subtle, [
      ring0.all[0]!,
      { epoch: 2, root: await importStorageRootKey(m.subtle, raw2) },
    ]);
    const b = await m.add({ keyRing: ring02, owner: await m.newOwner() });
    await m.advance(3000);
    expect(bytesEqual(await m.settle(b.storage.files.getBytes(ref2)), testContent(5000, 7))).toBe(
      true,
    );
    expect(bytesEqual(await m.settle(b.storage.files.getBytes(ref0)), testContent(5000, 6))).toBe(
      true,
    );
  });
});
