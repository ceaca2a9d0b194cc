import { describe, expect, it } from 'vitest';
import type { AccountApi } from '../../src/core/account/account-api.ts';
import { accountMeshParts, type AccountSessionLike } from '../../src/core/account/account-mesh.ts';
import { AccountSession } from '../../src/core/account/account-session.ts';
import { toHex } from '../../src/core/bytes.ts';
import { MemoryAccountStore } from '../../src/core/account/account-store.ts';
import { grantEpochKey, type EpochGrant } from '../../src/core/account/epoch-keys.ts';
import { MAX_GRANTS_PER_MESSAGE } from '../../src/core/account/grant-relay.ts';
import {
  listMessage,
  parseProfileMessage,
  type ProfileChannel,
} from '../../src/core/account/profile-channel.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  type DeviceIdentity,
} from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, trackedSubtle } from '../../src/core/testing/sim-node.ts';
import { accountWorld, ids } from './account-mesh-helpers.ts';

/** Grants that outlive the revoking tab, reach devices that were offline, and approvals. */
describe('grant relay', () => {
  it('a device offline during a revocation gets its grant from another device after the revoker left', async () => {
    const w = await accountWorld(31);
    const laptop = await w.member(await w.device('Laptop'));
    await w.clock.advance(50);
    const deskDev = await w.device('Desk');
    const deskStore = new MemoryAccountStore();
    const desk = await w.member(deskDev, { grantStore: deskStore });
    const tabletDev = await w.device('Tablet');
    const tablet = await w.member(tabletDev);
    const phoneDev = await w.device('Phone');
    await w.member(phoneDev);
    await w.clock.advance(3000);
    expect(ids(laptop.node)).toHaveLength(4);
    // The tablet goes offline; the laptop revokes the phone.
    await tablet.node.close();
    await w.clock.advance(3000);
    const r = await laptop.service.revoke(phoneDev.deviceId);
    expect([...r.granted].sort()).toEqual([deskDev.deviceId, tabletDev.deviceId].sort());
    await w.clock.advance(1000);
    const key1 = toHex(laptop.service.epochKey()!.key);
    expect(toHex(desk.service.epochKey()!.key)).toBe(key1);
    // The desk's own grant was delivered and dropped; the tablet's waits on both, and in the
    // desk's store.
    const waiting = (g: EpochGrant[]) => g.map((x) => `${x.device}/${x.epoch}`);
    expect(waiting(laptop.service.pendingGrants())).toEqual([`${tabletDev.deviceId}/1`]);
    expect(waiting(desk.service.pendingGrants())).toEqual([`${tabletDev.deviceId}/1`]);
    expect(await deskStore.loadGrants()).toHaveLength(1);
    expect(laptop.service.devices().find((d) => d.name === 'Desk')?.epochs).toEqual([0, 1]);

    // The revoking tab closes, and the desk restarts from its store.
    const list = laptop.service.list!;
    await laptop.node.close();
    await desk.node.close();
    await w.clock.advance(3000);
    const desk2 = await w.member(deskDev, { grantStore: deskStore, list });
    expect(waiting(desk2.service.pendingGrants())).toEqual([`${tabletDev.deviceId}/1`]);
    // The tablet comes back: the desk hands the grant over, and drops it once told.
    const back = await w.member(tabletDev);
    await w.clock.advance(3000);
    expect(ids(back.node).sort()).toEqual([desk2.node.id, back.node.id].sort());
    expect(back.service.epochKey()?.epoch).toBe(1);
    expect(toHex(back.service.epochKey()!.key)).toBe(key1);
    expect(desk2.service.pendingGrants()).toEqual([]);
    expect(await deskStore.loadGrants()).toEqual([]);
    expect(desk2.service.devices().find((d) => d.name === 'Tablet')).toMatchObject({
      epochs: [0, 1],
      needsApproval: false,
    });
    expect([desk2.serviceErrors, back.serviceErrors]).toEqual([[], []]);
  });

  it('malformed, foreign and forged grant messages are refused with clear errors', async () => {
    const w = await accountWorld(32);
    const a = await w.member(await w.device('A'));
    const bDev = await w.device('B');
    const b = await w.member(bDev);
    const cDev = await w.device('C');
    await w.clock.advance(3000);
    const send = (body: unknown, t = 'acct.grants') =>
      a.node.bus.send(b.node.id, t, body).catch(() => {});
    const key = w.bytes(32);
    const good = await grantEpochKey(w.subtle, w.bytes, w.account, 1, key, {
      id: cDev.deviceId,
      box: cDev.box.publicKey,
    });
    // Signed by another account.
    const foreign = await grantEpochKey(w.subtle, w.bytes, w.other, 1, key, {
      id: cDev.deviceId,
      box: cDev.box.publicKey,
    });
    // This account's name on it, another account's signature; a retargeted good grant.
    const forged = { ...foreign, account: good.account };
    const retargeted = { ...good, device: bDev.deviceId };
    const tampered = { ...good, epoch: 2 };
    await send({ grants: [{ v: 1, account: good.account }] });
    await send({ grants: [{ ...good, v: 2 }] });
    await send({ grants: [foreign, forged, retargeted, tampered] });
    await w.clock.advance(500);
    expect(b.serviceErrors).toEqual([
      'EPOCH_GRANT_MALFORMED',
      'EPOCH_GRANT_VERSION',
      'EPOCH_GRANT_BAD_SIGNATURE',
      'EPOCH_GRANT_BAD_SIGNATURE',
      'EPOCH_GRANT_BAD_SIGNATURE',
      'EPOCH_GRANT_BAD_SIGNATURE',
    ]);
    expect(b.service.pendingGrants()).toEqual([]);
    expect(b.service.epochKey()).toBeUndefined();

    // Bodies that break the message schema never reach the relay: the bus rejects them.
    const before = b.node.stats.rejectedFrom[a.node.id] ?? 0;
    const tooMany = Array.from({ length: MAX_GRANTS_PER_MESSAGE + 1 }, () => good);
    await send({ grants: [] });
    await send({ grants: tooMany });
    await send({ grants: [good], extra: 1 });
    await send({ epochs: [-1] }, 'acct.epochs');
    await send({ epochs: 'all' }, 'acct.epochs');
    await w.clock.advance(500);
    expect((b.node.stats.rejectedFrom[a.node.id] ?? 0) - before).toBe(5);
    expect(b.service.pendingGrants()).toEqual([]);

    // The genuine grant is kept for C (which never came) and refused for a revoked device.
    await send({ grants: [good] });
    await w.clock.advance(500);
    expect(b.service.pendingGrants()).toEqual([good]);
    await a.service.revoke(cDev.deviceId);
    await w.clock.advance(500);
    expect(b.service.pendingGrants().some((g) => g.device === cDev.deviceId)).toBe(false);
    expect(b.serviceErrors).toHaveLength(6);
  });

  it('a device enrolled after revocations needs approval; approving grants it every epoch', async () => {
    const w = await accountWorld(33);
    const laptop = await w.member(await w.device('Laptop'));
    await w.clock.advance(50);
    const desk = await w.member(await w.device('Desk'));
    const phoneDev = await w.device('Phone');
    const watchDev = await w.device('Watch');
    const spareDev = await w.device('Spare');
    await w.member(phoneDev);
    await w.member(watchDev);
    await w.member(spareDev);
    await w.clock.advance(3000);
    const keys = new Map<number, string>();
    laptop.service.on('epoch', (e) => keys.set(e.epoch, toHex(e.key)));
    await laptop.service.revoke(phoneDev.deviceId);
    await laptop.service.revoke(watchDev.deviceId);
    await w.clock.advance(1000);
    expect([...keys.keys()]).toEqual([1, 2]);
    expect(desk.service.epochKey()?.epoch).toBe(2);

    // Enrolled afterwards (by passphrase or recovery code): a valid certificate, epoch 0 only.
    const lateDev = await w.device('Late');
    const late = await w.member(lateDev);
    await w.clock.advance(3000);
    expect(late.service.list?.epoch).toBe(2);
    const row = (m: typeof laptop, name: string) =>
      m.service.devices().find((d) => d.name === name);
    expect(row(desk, 'Late')).toMatchObject({ epochs: [0], needsApproval: true });
    expect(row(late, 'Late')).toMatchObject({ self: true, needsApproval: true });
    expect(row(desk, 'Laptop')?.needsApproval).toBe(false);
    // Never automatically: nothing reached it, and a later revocation passes it over too.
    expect(late.service.epochKey()).toBeUndefined();
    const r3 = await laptop.service.revoke(spareDev.deviceId);
    expect(r3.granted).toEqual([desk.dev.deviceId]);
    await w.clock.advance(1000);
    expect(late.service.epochKey()).toBeUndefined();
    expect(row(desk, 'Late')).toMatchObject({ epochs: [0], needsApproval: true });
    // Only a device holding epochs can approve, and only known, unrevoked devices.
    await expect(late.service.approve(desk.dev.deviceId)).rejects.toMatchObject({
      code: 'APPROVE_NOTHING_HELD',
    });
    await expect(desk.service.approve(phoneDev.deviceId)).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });
    await expect(desk.service.approve('abcdefghijklmnop')).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    });

    const lateKeys = new Map<number, string>();
    late.service.on('epoch', (e) => lateKeys.set(e.epoch, toHex(e.key)));
    const grants = await desk.service.approve(lateDev.deviceId);
    expect(grants.map((g) => g.epoch)).toEqual([1, 2, 3]);
    await w.clock.advance(1000);
    expect(new Map([...lateKeys].sort())).toEqual(keys);
    expect(late.service.epochKey()?.epoch).toBe(3);
    expect(row(laptop, 'Late')).toMatchObject({ epochs: [0, 1, 2, 3], needsApproval: false });
    expect(row(late, 'Late')?.needsApproval).toBe(false);
    expect(desk.service.pendingGrants()).toEqual([]);
    expect(laptop.service.pendingGrants()).toEqual([]);
  });
});

describe('profile channel messages', () => {
  it('are validated, with a clear error', () => {
    expect(parseProfileMessage({ v: 1, t: 'epoch', epoch: 3 })).toEqual({
      v: 1,
      t: 'epoch',
      epoch: 3,
    });
    for (const bad of [
      { v: 1, t: 'epoch', epoch: 0 },
      { v: 1, t: 'epoch', epoch: '3' },
      { v: 2, t: 'epoch', epoch: 3 },
      { v: 1, t: 'nope' },
      { v: 1, t: 'revocations' },
      null,
    ]) {
      expect(() => parseProfileMessage(bad)).toThrow(
        expect.objectContaining({ code: 'PROFILE_MESSAGE_MALFORMED' }),
      );
    }
  });
});

/** Sessions and nodes on one simulated network, and BroadcastChannel-like profile channels. */
async function profileWorld(seed: number) {
  const clock = new ManualClock(1_700_000_000_000);
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const subtle = trackedSubtle(clock);
  const api = {} as AccountApi; // create and recovery-code sign-in never call the server
  const open = async (store: MemoryAccountStore, identity: DeviceIdentity) =>
    AccountSession.open({
      subtle,
      random: bytes,
      clock: { now: () => clock.now() },
      store,
      api,
      device: identity,
    });
  const newIdentity = async () => identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
  // A BroadcastChannel: every other subscriber hears a posted message, a task later.
  const subscribers = new Set<(m: unknown) => void>();
  const channel = (): ProfileChannel => {
    let mine: ((m: unknown) => void) | undefined;
    return {
      post: (m) => {
        for (const fn of subscribers) {
          if (fn !== mine) queueMicrotask(() => fn(structuredClone(m)));
        }
      },
      subscribe: (fn) => {
        mine = fn;
        subscribers.add(fn);
        return () => subscribers.delete(fn);
      },
    };
  };
  const join = async (
    session: AccountSessionLike,
    identity: DeviceIdentity,
    o: { channel?: ProfileChannel; start?: boolean } = {},
  ) => {
    const parts = await accountMeshParts(session, {
      subtle,
      random: bytes,
      now: () => clock.now(),
      ...(o.channel ? { channel: o.channel } : {}),
    });
    const { node } = await createSimNode(net, bytes, {
      meshKey: session.keys!.meshKey,
      identity,
      admission: parts.admission,
    });
    const service = await parts.attach(node);
    const errors: string[] = [];
    service.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
    if (o.start !== false) void node.start();
    return { node, service, errors };
  };
  return { clock, open, newIdentity, channel, join };
}

describe('tabs of one profile', () => {
  it('a key and a list one tab learns reach the other tab through the profile channel', async () => {
    const { clock, open, newIdentity, channel, join } = await profileWorld(34);
    const id1 = await newIdentity();
    const s1 = await open(new MemoryAccountStore(), id1);
    const { recoveryCode } = await s1.create('alice');
    const id2 = await newIdentity();
    const store2 = new MemoryAccountStore();
    const tabA = await open(store2, id2);
    await tabA.signInWithRecoveryCode(recoveryCode);
    const tabB = await open(store2, id2); // a second tab of the same profile
    const id3 = await newIdentity();
    const s3 = await open(new MemoryAccountStore(), id3);
    await s3.signInWithRecoveryCode(recoveryCode);
    const n1 = await join(s1, id1);
    const nA = await join(tabA, id2, { channel: channel() });
    // Tab B's node never reaches the mesh: all it learns comes through the channel.
    const nB = await join(tabB, id2, { channel: channel(), start: false });
    const epochsB: number[] = [];
    nB.service.on('epoch', (e) => epochsB.push(e.epoch));
    await join(s3, id3);
    await clock.advance(3000);
    expect(ids(n1.node)).toHaveLength(3);

    await n1.service.revoke(id3.deviceId);
    await clock.advance(1000);
    expect(nA.service.epochKey()?.epoch).toBe(1);
    expect(epochsB).toEqual([1]);
    expect(toHex(nB.service.epochKey()!.key)).toBe(toHex(nA.service.epochKey()!.key));
    expect(nB.service.list?.version).toBe(1);
    expect(tabB.epochs).toEqual([0, 1]);
    // Tab B saving afterwards keeps what tab A stored (it reads the store again first).
    await tabB.addEpochKey(7, new Uint8Array(32).fill(7));
    expect((await open(store2, id2)).epochs).toEqual([0, 1, 7]);
    expect([nA.errors, nB.errors]).toEqual([[], []]);
  });

  it("a grant that arrives while the other tab's list is being read is opened (no stall)", async () => {
    // The write queue (session writes) and the service's queue once waited on each other: a
    // list from the other tab was read in the write queue, which then waited for the service,
    // while the service was opening a grant, which waited for a write. Both tabs of a device
    // then missed the new epoch for good (seen in real Chromium).
    const { clock, open, newIdentity, join } = await profileWorld(35);
    const id1 = await newIdentity();
    const s1 = await open(new MemoryAccountStore(), id1);
    const { recoveryCode } = await s1.create('alice');
    const id2 = await newIdentity();
    const real = await open(new MemoryAccountStore(), id2);
    await real.signInWithRecoveryCode(recoveryCode);
    // This tab reads the store slowly: the test decides when a refresh ends.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const tab = new Proxy(real, {
      get: (t, k) => {
        if (k === 'refresh')
          return async () => {
            await gate;
            await t.refresh();
          };
        const value: unknown = Reflect.get(t, k, t);
        return typeof value === 'function' ? (value as () => unknown).bind(t) : value;
      },
    }) as AccountSessionLike;
    const id3 = await newIdentity();
    const s3 = await open(new MemoryAccountStore(), id3);
    await s3.signInWithRecoveryCode(recoveryCode);
    const n1 = await join(s1, id1);
    let fromOtherTab: ((m: unknown) => void) | undefined;
    const tabChannel: ProfileChannel = {
      post: () => {},
      subscribe: (fn) => {
        fromOtherTab = fn;
        return () => {};
      },
    };
    const n2 = await join(tab, id2, { channel: tabChannel });
    await join(s3, id3);
    await clock.advance(3000);
    expect(ids(n1.node)).toHaveLength(3);

    const { list } = await n1.service.revoke(id3.deviceId);
    // Before the list and the grant reach this tab, "another tab" tells it about the list and
    // its store read is slow; the grant arrives meanwhile.
    fromOtherTab!(listMessage(list));
    await clock.advance(100);
    release();
    await clock.advance(1000);
    expect(n2.service.list?.version).toBe(1);
    expect(n2.service.epochKey()?.epoch).toBe(1);
    expect(real.epochs).toEqual([0, 1]);
    expect(n2.errors).toEqual([]);
  });
});
