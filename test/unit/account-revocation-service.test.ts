import { describe, expect, it } from 'vitest';
import { toBase64Url, toHex } from '../../src/core/bytes.ts';
import {
  emptyRevocations,
  isRevoked,
  revocationBytes,
  revokeDevices,
  type RevocationBody,
} from '../../src/core/account/revocation.ts';
import type { AccountApi } from '../../src/core/account/account-api.ts';
import { accountMeshParts } from '../../src/core/account/account-mesh.ts';
import { AccountSession } from '../../src/core/account/account-session.ts';
import { MemoryAccountStore } from '../../src/core/account/account-store.ts';
import { generateDeviceKeyPair, identityFromKeyPair } from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, trackedSubtle } from '../../src/core/testing/sim-node.ts';
import { accountWorld, ids } from './account-mesh-helpers.ts';

async function threeDevices(seed: number) {
  const w = await accountWorld(seed);
  const laptop = await w.member(await w.device('Laptop'));
  await w.clock.advance(50);
  const desk = await w.member(await w.device('Desk'));
  await w.clock.advance(50);
  const phoneDev = await w.device('Phone');
  // The phone has two tabs open: both nodes of one device.
  const phone1 = await w.member(phoneDev);
  await w.clock.advance(50);
  const phone2 = await w.member(phoneDev);
  await w.clock.advance(3000);
  const all = [laptop, desk, phone1, phone2];
  const everyone = all.map((m) => m.node.id).sort();
  for (const m of all) expect(ids(m.node)).toEqual(everyone);
  return { w, laptop, desk, phone1, phone2, phoneDev, all };
}

describe('revocation service', () => {
  it('a revoked device is disconnected everywhere within a second and cannot rejoin', async () => {
    const { w, laptop, desk, phone1, phone2, phoneDev } = await threeDevices(11);
    expect(laptop.service.devices().map((d) => d.name)).toEqual(['Laptop', 'Desk', 'Phone']);
    const revokedEvents: string[] = [];
    desk.service.on('revoked', (e) => revokedEvents.push(e.deviceId));
    const selfRevoked: number[] = [];
    phone1.service.on('selfRevoked', (l) => selfRevoked.push(l.version));

    const result = await laptop.service.revoke(phoneDev.deviceId);
    expect(result.list.version).toBe(1);
    expect(result.epoch).toBe(1);
    expect(result.granted).toEqual([desk.dev.deviceId]);
    await w.clock.advance(1000);
    const phoneIds = [phone1.node.id, phone2.node.id];
    for (const m of [laptop, desk]) {
      for (const id of phoneIds) {
        expect(ids(m.node)).not.toContain(id);
        expect(m.node.bus.link(id)).toBeUndefined();
      }
      expect(m.service.list?.version).toBe(1);
    }
    expect(revokedEvents).toEqual([phoneDev.deviceId]);
    // The phone's own view times the others out too (it may not have heard the list).
    await w.clock.advance(2500);
    for (const p of [phone1, phone2]) {
      expect(ids(p.node)).not.toContain(laptop.node.id);
      expect(ids(p.node)).not.toContain(desk.node.id);
    }
    expect(laptop.service.devices().find((d) => d.name === 'Phone')?.revoked).toBe(true);

    // Re-dialing (every 5 s) and a fresh tab of the phone are refused: CERT_REVOKED.
    const fresh = await w.member(phoneDev);
    await w.clock.advance(12_000);
    for (const m of [laptop, desk]) {
      expect(ids(m.node).sort()).toEqual([laptop.node.id, desk.node.id].sort());
    }
    expect(fresh.errors).toContain('CERT_REVOKED');
    expect(ids(fresh.node)).not.toContain(laptop.node.id);
    expect(laptop.node.stats.handshakeFailures.CERT_REVOKED).toBeGreaterThan(0);
    // Whether the phone heard the list before its links closed is best effort; it is never
    // told a new epoch key either way.
    expect(selfRevoked.length).toBeLessThanOrEqual(1);
  });

  it('after a revocation the remaining devices hold the new epoch key, the revoked one does not', async () => {
    const { w, laptop, desk, phone1, phone2, phoneDev } = await threeDevices(12);
    const epochs: number[] = [];
    desk.service.on('epoch', (e) => epochs.push(e.epoch));
    expect(laptop.service.epochKey()).toBeUndefined();
    await laptop.service.revoke(phoneDev.deviceId);
    await w.clock.advance(1000);
    const key = laptop.service.epochKey();
    expect(key?.epoch).toBe(1);
    expect(key?.key).toHaveLength(32);
    expect(desk.service.epochKey()?.epoch).toBe(1);
    expect(toHex(desk.service.epochKey()!.key)).toBe(toHex(key!.key));
    expect(epochs).toEqual([1]);
    expect(phone1.service.epochKey()).toBeUndefined();
    expect(phone2.service.epochKey()).toBeUndefined();
  });

  it('a device that joins after a revocation gets the list and its grant', async () => {
    const w = await accountWorld(13);
    const laptop = await w.member(await w.device('Laptop'));
    await w.clock.advance(50);
    const tabletDev = await w.device('Tablet');
    const tablet = await w.member(tabletDev);
    const phoneDev = await w.device('Phone');
    const phone = await w.member(phoneDev);
    await w.clock.advance(3000);
    // The tablet goes away before the revocation and comes back afterwards.
    await tablet.node.close();
    await w.clock.advance(3000);
    await laptop.service.revoke(phoneDev.deviceId);
    await w.clock.advance(1000);
    expect(ids(laptop.node)).toEqual([laptop.node.id]);
    const back = await w.member(tabletDev);
    await w.clock.advance(3000);
    expect(ids(back.node).sort()).toEqual([laptop.node.id, back.node.id].sort());
    expect(back.service.list?.version).toBe(1);
    expect(back.service.epochKey()?.epoch).toBe(1);
    expect(toHex(back.service.epochKey()!.key)).toBe(toHex(laptop.service.epochKey()!.key));
    expect(phone.service.epochKey()).toBeUndefined();
  });

  it('ignores an older list and refuses a rollback (REVOCATION_ROLLBACK); the device stays out', async () => {
    const { w, laptop, desk, phoneDev } = await threeDevices(14);
    await laptop.service.revoke(phoneDev.deviceId);
    await w.clock.advance(1000);
    const current = desk.service.list!;
    expect(current.version).toBe(1);
    const deskErrors: string[] = [];
    desk.service.on('error', (e) => deskErrors.push(e.code));

    // An older list (version 0) is ignored, and the sender is told the current one.
    const old = await emptyRevocations(w.account);
    await laptop.node.bus.send(desk.node.id, 'acct.rev', { list: old });
    await w.clock.advance(200);
    expect(desk.service.list).toEqual(current);

    // A signed version 2 that un-revokes the phone: refused, the list in force stays.
    const body: RevocationBody = {
      v: 1,
      account: toBase64Url(w.account.publicKey),
      version: 2,
      epoch: 2,
      revoked: [],
    };
    const rollback = { ...body, sig: toBase64Url(await w.account.sign(revocationBytes(body))) };
    await laptop.node.bus.send(desk.node.id, 'acct.rev', { list: rollback });
    await w.clock.advance(200);
    expect(deskErrors).toEqual(['REVOCATION_ROLLBACK']);
    expect(desk.service.list).toEqual(current);
    expect(isRevoked(desk.service.list!, phoneDev.deviceId)).toBe(true);

    // A list signed by another account is refused too.
    const foreign = await revokeDevices(w.other, await emptyRevocations(w.other), [], 1);
    await laptop.node.bus.send(desk.node.id, 'acct.rev', { list: foreign });
    await w.clock.advance(200);
    expect(deskErrors).toEqual(['REVOCATION_ROLLBACK', 'REVOCATION_WRONG_ACCOUNT']);

    // The phone still cannot come back to the desk.
    const again = await w.member(phoneDev);
    await w.clock.advance(6000);
    expect(ids(desk.node)).not.toContain(again.node.id);
    expect(again.errors).toContain('CERT_REVOKED');
  });

  it('two revocations signed at once fork; both sides agree and the loser signs the union', async () => {
    const w = await accountWorld(15);
    const a = await w.member(await w.device('A'));
    await w.clock.advance(50);
    const b = await w.member(await w.device('B'));
    await w.clock.advance(50);
    const cDev = await w.device('C');
    const dDev = await w.device('D');
    const c = await w.member(cDev);
    const d = await w.member(dDev);
    await w.clock.advance(3000);
    const forks: number[] = [];
    a.service.on('fork', (f) => forks.push(f.version));
    b.service.on('fork', (f) => forks.push(f.version));
    await Promise.all([a.service.revoke(cDev.deviceId), b.service.revoke(dDev.deviceId)]);
    await w.clock.advance(2000);
    expect(forks.length).toBeGreaterThan(0);
    for (const m of [a, b]) {
      const list = m.service.list!;
      expect(list.version).toBe(2);
      expect(isRevoked(list, cDev.deviceId)).toBe(true);
      expect(isRevoked(list, dDev.deviceId)).toBe(true);
      expect(ids(m.node).sort()).toEqual([a.node.id, b.node.id].sort());
    }
    expect(a.service.list).toEqual(b.service.list);
    expect(a.service.epochKey()?.epoch).toBe(2);
    expect(toHex(b.service.epochKey()!.key)).toBe(toHex(a.service.epochKey()!.key));
    // Each may hold the other side's losing epoch 1 (granted before the fork was seen), never
    // the epoch in force.
    for (const m of [c, d]) expect(m.service.epochKey()?.epoch ?? 0).toBeLessThan(2);
  });

  it('revoking needs the account key and another device than this one', async () => {
    const w = await accountWorld(16);
    const a = await w.member(await w.device('A'));
    await expect(a.service.revoke(a.dev.deviceId)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    await expect(a.service.revoke('not a device')).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
  });
});

describe('personal mesh from account sessions', () => {
  it('sessions form the mesh, a revocation reaches their stores, the revoked one gets no key', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const rand = seededRandom(21);
    const bytes = seededBytes(rand);
    const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
    const subtle = trackedSubtle(clock);
    const api = {} as AccountApi; // create and recovery-code sign-in never call the server
    async function device(name: string) {
      const identity = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
      const session = await AccountSession.open({
        subtle,
        random: bytes,
        clock: { now: () => clock.now() },
        store: new MemoryAccountStore(),
        api,
        device: identity,
        defaultDeviceName: name,
      });
      return { identity, session };
    }
    async function join(d: Awaited<ReturnType<typeof device>>) {
      const parts = await accountMeshParts(d.session, {
        subtle,
        random: bytes,
        now: () => clock.now(),
      });
      const { node } = await createSimNode(net, bytes, {
        meshKey: d.session.keys!.meshKey,
        identity: d.identity,
        admission: parts.admission,
      });
      const service = await parts.attach(node);
      const errors: string[] = [];
      service.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
      void node.start();
      return { node, service, errors };
    }
    const d1 = await device('One');
    const { recoveryCode } = await d1.session.create('alice');
    const d2 = await device('Two');
    await d2.session.signInWithRecoveryCode(recoveryCode);
    const d3 = await device('Three');
    await d3.session.signInWithRecoveryCode(recoveryCode);
    const [n1, n2, n3] = [await join(d1), await join(d2), await join(d3)];
    await clock.advance(3000);
    expect(ids(n1.node)).toHaveLength(3);
    expect(n1.service.devices().map((d) => d.name)).toEqual(['One', 'Three', 'Two']);

    await n1.service.revoke(d3.identity.deviceId);
    await clock.advance(1000);
    expect(ids(n1.node)).toHaveLength(2);
    expect([n1.errors, n2.errors]).toEqual([[], []]);
    expect(d1.session.epochs).toEqual([0, 1]);
    expect(d2.session.epochs).toEqual([0, 1]);
    expect(d3.session.epochs).toEqual([0]);
    expect(d2.session.revocations?.version).toBe(1);
    const k1 = await d1.session.exportEpochKey(1);
    expect(toHex(await d2.session.exportEpochKey(1))).toBe(toHex(k1));
    expect(n3.service.epochKey()).toBeUndefined();
    // A restarted tab of device 2 starts from what its session stored.
    await n2.node.close();
    const again = await join(d2);
    expect(again.service.list?.version).toBe(1);
    expect(again.service.epochKey()?.epoch).toBe(1);
  });
});
