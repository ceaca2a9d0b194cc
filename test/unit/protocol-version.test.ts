import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/core/bytes.ts';
import { FramedChannel } from '../../src/core/framing.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  newMeshKey,
  newTabId,
  nodeIdOf,
} from '../../src/core/identity.ts';
import type { MeshNode, VersionMismatch } from '../../src/core/mesh-node.ts';
import {
  negotiateVersion,
  OUR_PROTOCOL,
  PROTOCOL_VERSION,
  readHelloVersion,
  type VersionRange,
} from '../../src/core/protocol-version.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';
import { decodePacket, encodePacket, type Packet } from '../../src/core/wire.ts';

function setup(seed: number) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const meshKey = newMeshKey(bytes);
  /** A started node speaking `protocol`, recording its errors and version events. */
  const node = async (protocol?: VersionRange) => {
    const { node } = await createSimNode(net, bytes, {
      meshKey,
      ...(protocol ? { protocol } : {}),
    });
    const errors: { code: string; message: string }[] = [];
    const versions: VersionMismatch[] = [];
    node.on('error', (e) => errors.push({ code: e.code, message: e.message }));
    node.on('version', (e) => versions.push(e));
    void node.start();
    await clock.advance(50);
    return { node, errors, versions };
  };
  return { clock, net, bytes, node };
}

const ids = (n: MeshNode): string[] => n.nodes().map((x) => x.id);

describe('protocol version in the link handshake', () => {
  it('reads ranges and negotiates the highest common version', () => {
    expect(readHelloVersion({ v: 1 }, 'x')).toEqual({ min: 1, max: 1 });
    expect(readHelloVersion({ v: 3, vmin: 2, other: true }, 'x')).toEqual({ min: 2, max: 3 });
    expect(negotiateVersion({ min: 2, max: 4 }, { min: 3, max: 5 })).toBe(4);
    expect(negotiateVersion({ min: 2, max: 2 }, { min: 2, max: 3 })).toBe(2);
    expect(negotiateVersion({ min: 2, max: 2 }, { min: 3, max: 3 })).toBeUndefined();
    for (const bad of [{}, { v: 'two' }, { v: 2, vmin: 3 }, { v: 0 }, { v: 1.5 }, null, []]) {
      expect(() => readHelloVersion(bad, 'x')).toThrow(/malformed protocol version/);
    }
  });

  it('two nodes of this build link and speak PROTOCOL_VERSION', async () => {
    const w = setup(1);
    const a = await w.node();
    const b = await w.node();
    await w.clock.advance(2000);
    expect(ids(a.node)).toEqual([a.node.id, b.node.id].sort());
    expect(a.node.bus.link(b.node.id)?.peer.protocol).toBe(PROTOCOL_VERSION);
    expect(b.node.bus.link(a.node.id)?.peer.protocol).toBe(PROTOCOL_VERSION);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('overlapping ranges link and speak the highest common version', async () => {
    const w = setup(2);
    const a = await w.node({ min: 2, max: 4 });
    const b = await w.node({ min: 3, max: 5 });
    await w.clock.advance(2000);
    expect(ids(b.node)).toEqual([a.node.id, b.node.id].sort());
    expect(a.node.bus.link(b.node.id)?.peer.protocol).toBe(4);
    expect(b.node.bus.link(a.node.id)?.peer.protocol).toBe(4);
    expect([...a.versions, ...b.versions]).toEqual([]);
  });

  it('disjoint ranges: PROTOCOL_MISMATCH on both sides, naming both versions and who reloads', async () => {
    const w = setup(3);
    const old = await w.node({ min: 2, max: 2 });
    const neu = await w.node({ min: 3, max: 3 });
    await w.clock.advance(3000);
    expect(ids(old.node)).toEqual([old.node.id]);
    expect(ids(neu.node)).toEqual([neu.node.id]);
    expect(old.errors.map((e) => e.code)).toContain('PROTOCOL_MISMATCH');
    expect(neu.errors.map((e) => e.code)).toContain('PROTOCOL_MISMATCH');
    expect(old.versions).toHaveLength(1);
    expect(old.versions[0]).toMatchObject({
      peer: neu.node.id,
      outdated: 'self',
      ours: { min: 2, max: 2 },
      theirs: { min: 3, max: 3 },
    });
    expect(old.versions[0]!.message).toMatch(/version 2\b.*version 3\b.*reload this tab/);
    expect(neu.versions).toHaveLength(1);
    expect(neu.versions[0]).toMatchObject({ peer: old.node.id, outdated: 'peer' });
    // Kept for subscribers that come later (the SDK replays them).
    expect(neu.node.versionMismatches()).toEqual(neu.versions);
    expect(neu.versions[0]!.message).toMatch(
      new RegExp(`node ${old.node.id} runs an older WOS \\(protocol version 2\\).*reload that tab`),
    );
  });

  it('does not redial a mismatched peer in a loop, and reports it once', async () => {
    const w = setup(4);
    const old = await w.node({ min: 2, max: 2 });
    const neu = await w.node({ min: 3, max: 3 });
    await w.clock.advance(60_000);
    // At most the first attempt from each side: neither dials the other again.
    const failures = (n: MeshNode): number => n.stats.handshakeFailures['PROTOCOL_MISMATCH'] ?? 0;
    expect(failures(old.node)).toBeLessThanOrEqual(2);
    expect(failures(neu.node)).toBeLessThanOrEqual(2);
    expect(old.versions).toHaveLength(1);
    expect(neu.versions).toHaveLength(1);
    expect(old.errors.length + neu.errors.length).toBeLessThanOrEqual(2);
  });

  describe('a raw peer', () => {
    /** Dials `target` and speaks the handshake by hand, as an older or broken build would. */
    async function rawPeer(w: ReturnType<typeof setup>, target: MeshNode) {
      const identity = await identityFromKeyPair(
        crypto.subtle,
        await generateDeviceKeyPair(crypto.subtle),
      );
      const id = nodeIdOf(identity.deviceId, newTabId(w.bytes));
      const received: Packet[] = [];
      let closed = false;
      const dialing = w.net.transport(id).dial(target.id);
      await w.clock.advance(20);
      const ch = await dialing;
      ch.onClose = () => (closed = true);
      const framed = new FramedChannel(ch, {
        maxMessageBytes: 1 << 20,
        onMessage: (m) => received.push(decodePacket(m)),
        onReject: () => {},
      });
      const hello = (b: unknown) =>
        framed.send(
          encodePacket({ env: { id: `${id}/hs-hello`, t: 'hello', f: id, to: '*', ttl: 0, b } }),
        );
      const pub = toBase64Url(identity.publicKey);
      return { id, received, hello, pub, nonce: toBase64Url(w.bytes(32)), closed: () => closed };
    }

    it('a version-1 hello (builds before versioning) is refused with PROTOCOL_MISMATCH', async () => {
      const w = setup(5);
      const a = await w.node();
      const old = await rawPeer(w, a.node);
      // Exactly what every build before versioning sent.
      await old.hello({ v: 1, kind: 'tab', pub: old.pub, nonce: old.nonce });
      await w.clock.advance(3000);
      const reject = old.received.find((p) => p.env.t === 'reject');
      expect(reject?.env.b).toMatchObject({ code: 'PROTOCOL_MISMATCH' });
      expect((reject?.env.b as { message: string }).message).toMatch(
        /this node runs an older WOS \(protocol version 1\).*reload this tab/,
      );
      expect(old.closed()).toBe(true);
      expect(a.versions).toEqual([
        expect.objectContaining({ peer: old.id, outdated: 'peer', theirs: { min: 1, max: 1 } }),
      ]);
      expect(ids(a.node)).toEqual([a.node.id]);
      // Today's hello carries the range, so an old build knows at least that it is not `v: 1`.
      const hello = old.received.find((p) => p.env.t === 'hello');
      expect(hello?.env.b).toMatchObject({ v: OUR_PROTOCOL.max, vmin: OUR_PROTOCOL.min });
    });

    it('a malformed version field is refused with PROTOCOL_VERSION_MALFORMED', async () => {
      const w = setup(6);
      const a = await w.node();
      const bad = await rawPeer(w, a.node);
      await bad.hello({ v: '2', vmin: 2, kind: 'tab', pub: bad.pub, nonce: bad.nonce });
      await w.clock.advance(3000);
      const reject = bad.received.find((p) => p.env.t === 'reject');
      expect(reject?.env.b).toMatchObject({ code: 'PROTOCOL_VERSION_MALFORMED' });
      const err = a.errors.find((e) => e.code === 'PROTOCOL_VERSION_MALFORMED');
      expect(err?.message).toMatch(/malformed protocol version \(v: "2", vmin: 2\)/);
      expect(a.versions).toEqual([]);
      expect(bad.closed()).toBe(true);
    });

    it('ignores unknown hello fields of a newer build that shares its version', async () => {
      const w = setup(7);
      const a = await w.node();
      const neu = await rawPeer(w, a.node);
      await neu.hello({ v: 3, vmin: 2, kind: 'tab', pub: neu.pub, nonce: neu.nonce, x: 1 });
      await w.clock.advance(500);
      // Got as far as `auth` (it cannot sign one here): the hello itself was accepted.
      expect(neu.received.map((p) => p.env.t)).toContain('auth');
      expect(a.errors.filter((e) => e.code === 'INVALID_MESSAGE')).toEqual([]);
    });
  });
});
