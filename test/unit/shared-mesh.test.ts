import { describe, expect, it } from 'vitest';
import { deriveAccountKeys, type AccountKeys } from '../../src/core/account/account-keys.ts';
import { formatHandle, handleOf } from '../../src/core/account/handle.ts';
import {
  acceptClaim,
  addInvite,
  makeInviteClaim,
  memberListBytes,
  mergeMemberLists,
  newInvite,
  newMemberList,
  removeMember,
  verifyInviteClaim,
  verifyMemberList,
  type InviteClaim,
  type MemberList,
} from '../../src/core/account/member-list.ts';
import { sharedMeshParts, type SharedMeshService } from '../../src/core/account/shared-mesh.ts';
import { fromBase64Url, toBase64Url, toHex } from '../../src/core/bytes.ts';
import { meshIdOf, newMeshKey } from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';
import { accountWorld, ids } from './account-mesh-helpers.ts';

const secret = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + n) & 255);

async function world(seed: number) {
  const w = await accountWorld(seed);
  const alice = w.account;
  const bob = w.other;
  const carol = await deriveAccountKeys(w.subtle, secret(seed + 200));
  const meshKey = newMeshKey(w.bytes);
  const meshId = await meshIdOf(w.subtle, meshKey);
  const owner = toBase64Url(alice.publicKey);
  const v0 = await newMemberList(alice, { meshId, name: 'Home', handle: 'alice#xxxx', at: 1 });

  interface Peer {
    node: MeshNode;
    service: SharedMeshService;
    errors: string[];
    account: string;
  }

  async function peer(
    name: string,
    acct: AccountKeys,
    o: { list?: MemberList; claim?: InviteClaim; before?: (node: MeshNode) => void } = {},
  ): Promise<Peer> {
    const dev = await w.device(name, acct);
    const parts = sharedMeshParts({
      meshId,
      owner,
      subtle: w.subtle,
      random: w.bytes,
      now: () => w.clock.now(),
      certificate: dev.certificate,
      ...(acct === alice ? { signer: alice } : {}),
      ...(o.list ? { list: o.list } : {}),
      ...(o.claim ? { claim: o.claim } : {}),
    });
    const { node } = await createSimNode(w.net, w.bytes, {
      meshKey,
      identity: dev.identity,
      admission: parts.admission,
    });
    const service = await parts.attach(node);
    const errors: string[] = [];
    node.on('error', (e) => errors.push(e.code));
    service.on('error', (e) => errors.push(e.code));
    o.before?.(node);
    void node.start();
    return { node, service, errors, account: toBase64Url(acct.publicKey) };
  }

  const claimFor = async (seedBytes: Uint8Array, acct: AccountKeys, handle?: string) =>
    makeInviteClaim(w.subtle, {
      meshId,
      seed: seedBytes,
      account: toBase64Url(acct.publicKey),
      ...(handle ? { handle } : {}),
    });

  return { w, alice, bob, carol, meshId, owner, v0, peer, claimFor };
}

describe('member list format', () => {
  it('canonical bytes, signature, and specific errors', async () => {
    const { w, alice, bob, meshId, owner, v0 } = await world(1);
    const bytes = memberListBytes(v0);
    const label = new TextEncoder().encode('wos/v1/mesh-members\0');
    expect(toHex(bytes.subarray(0, label.length))).toBe(toHex(label));
    const expect1 = { meshId, owner };
    expect((await verifyMemberList(w.subtle, v0, expect1)).version).toBe(0);
    await expect(verifyMemberList(w.subtle, { ...v0, v: 2 }, expect1)).rejects.toMatchObject({
      code: 'MEMBERS_VERSION',
    });
    await expect(
      verifyMemberList(w.subtle, { ...v0, members: 'x' }, expect1),
    ).rejects.toMatchObject({ code: 'MEMBERS_MALFORMED' });
    await expect(
      verifyMemberList(w.subtle, { ...v0, name: 'Work' }, expect1),
    ).rejects.toMatchObject({ code: 'MEMBERS_BAD_SIGNATURE' });
    await expect(
      verifyMemberList(w.subtle, v0, { meshId: '0'.repeat(64), owner }),
    ).rejects.toMatchObject({ code: 'MEMBERS_WRONG_MESH' });
    // A list forged by another account, naming itself or the real owner.
    const forged = await newMemberList(bob, { meshId, name: 'Home', at: 1 });
    await expect(verifyMemberList(w.subtle, forged, expect1)).rejects.toMatchObject({
      code: 'MEMBERS_WRONG_OWNER',
    });
    const sig = toBase64Url(await bob.sign(memberListBytes({ ...forged, owner })));
    await expect(
      verifyMemberList(w.subtle, { ...forged, owner, sig }, expect1),
    ).rejects.toMatchObject({ code: 'MEMBERS_BAD_SIGNATURE' });
    // Unsorted members are malformed.
    const inv = await newInvite(w.subtle, w.bytes);
    const v1 = await addInvite(alice, v0, inv.publicKey, 2);
    const claim = await makeInviteClaim(w.subtle, {
      meshId,
      seed: inv.seed,
      account: toBase64Url(bob.publicKey),
    });
    const v2 = await acceptClaim(alice, v1, claim, 3);
    const swapped = { ...v2, members: [...v2.members].reverse() };
    await expect(verifyMemberList(w.subtle, swapped, expect1)).rejects.toMatchObject({
      code: 'MEMBERS_MALFORMED',
    });
  });

  it('merge: older ignored, newer replaces, forgetting a used invite is a rollback', async () => {
    const { w, alice, bob, carol, meshId, owner, v0 } = await world(2);
    const e = { meshId, owner };
    const inv = await newInvite(w.subtle, w.bytes);
    const v1 = await addInvite(alice, v0, inv.publicKey, 2);
    const bobAcct = toBase64Url(bob.publicKey);
    const claim = await makeInviteClaim(w.subtle, { meshId, seed: inv.seed, account: bobAcct });
    expect((await verifyInviteClaim(w.subtle, v1, claim, bobAcct)).account).toBe(bobAcct);
    await expect(verifyInviteClaim(w.subtle, v0, claim, bobAcct)).rejects.toMatchObject({
      code: 'INVITE_UNKNOWN',
    });
    await expect(
      verifyInviteClaim(w.subtle, v1, claim, toBase64Url(carol.publicKey)),
    ).rejects.toMatchObject({ code: 'INVITE_WRONG_ACCOUNT' });
    const bad = { ...claim, sig: toBase64Url(new Uint8Array(64)) };
    await expect(verifyInviteClaim(w.subtle, v1, bad, bobAcct)).rejects.toMatchObject({
      code: 'INVITE_BAD_SIGNATURE',
    });
    await expect(verifyInviteClaim(w.subtle, v1, { v: 1 }, bobAcct)).rejects.toMatchObject({
      code: 'INVITE_MALFORMED',
    });
    const v2 = await acceptClaim(alice, v1, claim, 3);
    await expect(verifyInviteClaim(w.subtle, v2, claim, bobAcct)).rejects.toMatchObject({
      code: 'INVITE_USED',
    });
    const older = await mergeMemberLists(w.subtle, e, v2, v1);
    expect(older).toMatchObject({ changed: false, stale: true });
    expect(older.list).toBe(v2);
    const v3 = await removeMember(alice, v2, bobAcct);
    expect((await mergeMemberLists(w.subtle, e, v2, v3)).list.version).toBe(3);
    // Version 4 that makes bob's used invite fresh again.
    const reopened = await addInvite(alice, { ...v3, invites: [] }, fromBase64Url(claim.invite), 9);
    await expect(mergeMemberLists(w.subtle, e, v3, reopened)).rejects.toMatchObject({
      code: 'MEMBERS_ROLLBACK',
    });
  });
});

describe('shared mesh on the in-memory network', () => {
  it('invite accepted once; non-member refused; removed member disconnected and refused', async () => {
    const { w, alice, bob, carol, v0, peer, claimFor } = await world(5);
    const a = await peer('alice-laptop', alice, { list: v0 });
    await w.clock.advance(500);
    const seed = await a.service.invite();
    expect(a.service.list?.version).toBe(1);

    // Bob (another account) with the invite: admitted, recorded in version 2.
    const bobHandle = formatHandle(await handleOf(w.subtle, 'bob', bob.publicKey));
    const b = await peer('bob-phone', bob, { claim: await claimFor(seed, bob, bobHandle) });
    await w.clock.advance(3000);
    expect(ids(a.node)).toContain(b.node.id);
    expect(ids(b.node)).toContain(a.node.id);
    expect(a.service.list?.version).toBe(2);
    expect(b.service.list?.version).toBe(2);
    expect(a.service.members().map((m) => [m.handle, m.owner, m.nodes.length])).toEqual([
      ['alice#xxxx', true, 0],
      [bobHandle, false, 1],
    ]);
    expect(b.service.members().find((m) => m.self)?.account).toBe(b.account);

    // Carol has no invite: NOT_A_MEMBER. Carol reusing bob's invite: INVITE_USED.
    const c = await peer('carol-desk', carol);
    const c2 = await peer('carol-tab', carol, { claim: await claimFor(seed, carol) });
    await w.clock.advance(6000);
    expect(c.errors).toContain('NOT_A_MEMBER');
    expect(c2.errors).toContain('INVITE_USED');
    for (const x of [c, c2]) {
      expect(ids(a.node)).not.toContain(x.node.id);
      expect(ids(b.node)).not.toContain(x.node.id);
    }
    expect(a.node.stats.handshakeFailures.NOT_A_MEMBER).toBeGreaterThan(0);

    // A second device of bob's account (no invite needed now) joins.
    const b2 = await peer('bob-laptop', bob, { list: b.service.list! });
    await w.clock.advance(3000);
    expect(ids(a.node)).toContain(b2.node.id);

    // Remove bob: both of his devices are disconnected within a second and refused afterwards.
    const removed: string[] = [];
    a.service.on('removed', (r) => removed.push(r.account));
    const selfRemoved: number[] = [];
    b.service.on('selfRemoved', (l) => selfRemoved.push(l.version));
    await a.service.remove(b.account);
    await w.clock.advance(1000);
    expect(ids(a.node)).not.toContain(b.node.id);
    expect(ids(a.node)).not.toContain(b2.node.id);
    expect(a.node.bus.link(b.node.id)).toBeUndefined();
    expect(removed).toEqual([b.account]);
    const again = await peer('bob-phone-2', bob, { claim: await claimFor(seed, bob) });
    await w.clock.advance(8000);
    expect(ids(a.node)).not.toContain(again.node.id);
    expect(again.errors.some((e) => e === 'INVITE_USED' || e === 'NOT_A_MEMBER')).toBe(true);
    expect(ids(a.node)).toEqual([a.node.id]);
    expect(a.service.members().map((m) => m.account)).toEqual([a.account]);
  });

  it('a member that is not the owner refuses an invitee until the owner records it', async () => {
    const { w, alice, bob, carol, v0, peer, claimFor } = await world(6);
    const a = await peer('alice-laptop', alice, { list: v0 });
    await w.clock.advance(200);
    const bobSeed = await a.service.invite();
    const b = await peer('bob', bob, { claim: await claimFor(bobSeed, bob) });
    await w.clock.advance(3000);
    const carolSeed = await a.service.invite();
    const listWithCarolInvite = a.service.list!;
    await w.clock.advance(200);
    expect(b.service.list?.version).toBe(listWithCarolInvite.version);
    // The owner goes away; carol's claim reaches only bob, who cannot accept it.
    await a.node.close({ goodbye: true });
    await w.clock.advance(1000);
    // Carol claims a handle whose tag is not her key's: recorded without it (display only).
    const c = await peer('carol', carol, { claim: await claimFor(carolSeed, carol, 'carol#aaaa') });
    await w.clock.advance(6000);
    expect(ids(b.node)).not.toContain(c.node.id);
    expect(c.errors).toContain('NOT_A_MEMBER');
    // The owner comes back on another tab: carol gets in through it, then bob admits her too.
    const a2 = await peer('alice-tab-2', alice, { list: listWithCarolInvite });
    await w.clock.advance(12_000);
    expect(a2.service.members().find((m) => m.account === c.account)).toMatchObject({
      handle: undefined,
      owner: false,
    });
    expect(ids(b.node)).toContain(c.node.id);
    expect(ids(c.node).sort()).toEqual([a2.node.id, b.node.id, c.node.id].sort());
  });

  it('lists gossiped by a non-owner or rolled back are refused; the newest stays in force', async () => {
    const { w, alice, bob, meshId, v0, peer, claimFor } = await world(7);
    const a = await peer('alice', alice, { list: v0 });
    await w.clock.advance(200);
    const seed = await a.service.invite();
    const b = await peer('bob', bob, { claim: await claimFor(seed, bob) });
    await w.clock.advance(3000);
    expect(b.service.list?.version).toBe(2);
    // Bob (a member, not the owner) signs a list making himself the only other member.
    const forged = await newMemberList(bob, { meshId, name: 'Mine', at: 5 });
    const asOwner = { ...forged, owner: a.service.list!.owner, version: 9 };
    const sig = toBase64Url(await bob.sign(memberListBytes(asOwner)));
    await b.node.bus.send(a.node.id, 'mesh.members', { list: { ...asOwner, sig } });
    await b.node.bus.send(a.node.id, 'mesh.members', { list: forged });
    // An old list (version 0: bob not a member) is answered with the newest.
    await b.node.bus.send(a.node.id, 'mesh.members', { list: v0 });
    await w.clock.advance(500);
    expect(a.errors).toContain('MEMBERS_BAD_SIGNATURE');
    expect(a.errors).toContain('MEMBERS_WRONG_OWNER');
    expect(a.service.list?.version).toBe(2);
    expect(ids(a.node)).toContain(b.node.id);
    expect(b.service.list?.version).toBe(2);
  });

  it('a removed member reached only through a relay is dropped at once by every member', async () => {
    const { w, alice, bob, carol, v0, peer, claimFor } = await world(8);
    const a = await peer('alice', alice, { list: v0 });
    await w.clock.advance(200);
    const b = await peer('bob', bob, { claim: await claimFor(await a.service.invite(), bob) });
    await w.clock.advance(3000);
    // Carol never gets a direct link to bob: they meet through alice only.
    const c = await peer('carol', carol, {
      claim: await claimFor(await a.service.invite(), carol),
      before: (node) => w.net.cut(node.id, b.node.id),
    });
    await w.clock.advance(4000);
    expect(ids(c.node)).toContain(b.node.id);
    expect(c.node.bus.link(b.node.id)).toBeUndefined();
    // Carol knows bob's node by account from his gossiped certificate.
    expect(c.service.members().find((m) => m.account === b.account)?.nodes).toEqual([b.node.id]);
    await a.service.remove(b.account);
    await w.clock.advance(300);
    expect(ids(a.node)).not.toContain(b.node.id);
    expect(ids(c.node)).not.toContain(b.node.id);
    expect(c.service.list?.members.map((m) => m.account)).not.toContain(b.account);
  });
});
