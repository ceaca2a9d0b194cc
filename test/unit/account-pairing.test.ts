import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { bytesEqual, toBase64Url } from '../../src/core/bytes.ts';
import { newAccountSecret } from '../../src/core/account/account-secret.ts';
import { generateBoxKeyPair } from '../../src/core/account/epoch-keys.ts';
import { pairWithGuest, PairingGuest, type PairingDevice } from '../../src/core/account/pairing.ts';
import { deviceOfNode, newMeshKey } from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, trackedSubtle } from '../../src/core/testing/sim-node.ts';

/** A rendezvous mesh of `count` nodes (the pairing link's mesh key), all linked. */
async function rendezvous(count: number, seed: number) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const meshKey = newMeshKey(bytes);
  const nodes: MeshNode[] = [];
  for (let i = 0; i < count; i++) {
    const { node } = await createSimNode(net, bytes, { meshKey });
    void node.start();
    nodes.push(node);
    await clock.advance(100);
  }
  await clock.advance(2000);
  const subtle = trackedSubtle(clock);
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false;
    const q = p.finally(() => (done = true));
    q.catch(() => {});
    for (let t = 0; t < 60_000 && !done; t += 10) await clock.advance(10);
    return q;
  };
  return { nodes, subtle, bytes, settle };
}

async function guestDevice(subtle: SubtleCrypto, id: string): Promise<PairingDevice> {
  const box = await generateBoxKeyPair(subtle);
  return { id, box: box.publicKey, name: 'Laptop', kind: 'tab' };
}

describe('pairing a new device', () => {
  it('both sides show the same words; on approval the guest gets the secret and the grants', async () => {
    const { nodes, subtle, bytes, settle } = await rendezvous(2, 1);
    const [hostNode, guestNode] = nodes as [MeshNode, MeshNode];
    const device = await guestDevice(subtle, deviceOfNode(guestNode.id));
    const guest = new PairingGuest(guestNode.bus, subtle, device);
    let guestWords: string[] = [];
    guest.onWords = (w, host) => {
      guestWords = w;
      expect(host).toBe(hostNode.id);
    };
    const secret = newAccountSecret(bytes);
    const grant = { v: 1, epoch: 1, marker: 'a grant' };
    const offer = await settle(
      pairWithGuest(hostNode.bus, subtle, bytes, guestNode.id, {
        secret: async () => secret.slice(),
        handle: () => 'alice#7fln',
        grantsFor: async (d) => {
          expect(d.id).toBe(device.id);
          expect(bytesEqual(d.box, device.box)).toBe(true);
          return [grant];
        },
      }),
    );
    expect(offer.words).toHaveLength(5);
    expect(offer.words).toEqual(guestWords);
    expect(offer.device).toMatchObject({ id: device.id, name: 'Laptop', kind: 'tab' });
    await settle(offer.approve());
    const got = await settle(guest.result);
    expect(bytesEqual(got.secret, secret)).toBe(true);
    expect(got.grants).toEqual([grant]);
    expect(got.handle).toBe('alice#7fln');
    await expect(offer.approve()).rejects.toMatchObject({ code: 'PAIRING_STATE' });
  });

  it('a rejection reaches the guest as PAIRING_CANCELLED and no secret is sent', async () => {
    const { nodes, subtle, bytes, settle } = await rendezvous(2, 2);
    const [hostNode, guestNode] = nodes as [MeshNode, MeshNode];
    const guest = new PairingGuest(
      guestNode.bus,
      subtle,
      await guestDevice(subtle, deviceOfNode(guestNode.id)),
    );
    let asked = false;
    const offer = await settle(
      pairWithGuest(hostNode.bus, subtle, bytes, guestNode.id, {
        secret: async () => {
          asked = true;
          return newAccountSecret(bytes);
        },
        handle: () => null,
        grantsFor: async () => [],
      }),
    );
    await settle(offer.reject());
    await expect(settle(guest.result)).rejects.toMatchObject({ code: 'PAIRING_CANCELLED' });
    expect(asked).toBe(false);
  });

  it('a second host is refused while the first one pairs (PAIRING_BUSY)', async () => {
    const { nodes, subtle, bytes, settle } = await rendezvous(3, 3);
    const [host, guestNode, intruder] = nodes as [MeshNode, MeshNode, MeshNode];
    new PairingGuest(guestNode.bus, subtle, await guestDevice(subtle, deviceOfNode(guestNode.id)));
    const source = {
      secret: async () => newAccountSecret(bytes),
      handle: () => null,
      grantsFor: async () => [],
    };
    await settle(pairWithGuest(host.bus, subtle, bytes, guestNode.id, source));
    await expect(
      settle(pairWithGuest(intruder.bus, subtle, bytes, guestNode.id, source)),
    ).rejects.toMatchObject({ code: 'PAIRING_BUSY' });
  });

  it('a guest that changes its key after committing is caught (PAIRING_COMMITMENT)', async () => {
    const { nodes, subtle, bytes, settle } = await rendezvous(2, 4);
    const [hostNode, guestNode] = nodes as [MeshNode, MeshNode];
    const device = await guestDevice(subtle, deviceOfNode(guestNode.id));
    // A man in the middle: commits to one key, then reveals another after seeing the host's.
    const other = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
      'deriveBits',
    ])) as CryptoKeyPair;
    const otherPub = new Uint8Array(await subtle.exportKey('raw', other.publicKey));
    guestNode.bus.handle('pair.commit', v.any(), () => ({
      commit: toBase64Url(new Uint8Array(32)),
    }));
    guestNode.bus.handle('pair.reveal', v.any(), () => ({
      key: toBase64Url(otherPub),
      device: { id: device.id, box: toBase64Url(device.box), name: 'x', kind: 'tab' },
    }));
    await expect(
      settle(
        pairWithGuest(hostNode.bus, subtle, bytes, guestNode.id, {
          secret: async () => newAccountSecret(bytes),
          handle: () => null,
          grantsFor: async () => [],
        }),
      ),
    ).rejects.toMatchObject({ code: 'PAIRING_COMMITMENT' });
  });

  it('steps out of order and malformed deliveries are refused with clear codes', async () => {
    const { nodes, subtle, settle } = await rendezvous(2, 5);
    const [hostNode, guestNode] = nodes as [MeshNode, MeshNode];
    const guest = new PairingGuest(
      guestNode.bus,
      subtle,
      await guestDevice(subtle, deviceOfNode(guestNode.id)),
    );
    await expect(
      settle(hostNode.bus.request(guestNode.id, 'pair.deliver', { sealed: 'AAAA' })),
    ).rejects.toMatchObject({ code: 'PAIRING_STATE' });
    await settle(hostNode.bus.request(guestNode.id, 'pair.commit', {}));
    const hostKey = await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
      'deriveBits',
    ]);
    const pub = new Uint8Array(await subtle.exportKey('raw', (hostKey as CryptoKeyPair).publicKey));
    await settle(hostNode.bus.request(guestNode.id, 'pair.reveal', { key: toBase64Url(pub) }));
    await expect(
      settle(
        hostNode.bus.request(guestNode.id, 'pair.deliver', {
          sealed: toBase64Url(new Uint8Array(60)),
        }),
      ),
    ).rejects.toMatchObject({ code: 'PAIRING_UNOPENABLE' });
    await expect(
      settle(hostNode.bus.request(guestNode.id, 'pair.reveal', { key: 'not a key' })),
    ).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    void guest;
  });
});
