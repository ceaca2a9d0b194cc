import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import { ClosedError, WosError } from '../../src/core/errors.ts';
import { FramedChannel } from '../../src/core/framing.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import { establishLink } from '../../src/core/link.ts';
import type { Channel, Transport } from '../../src/core/transport.ts';
import { linkContext, outcome, random } from './link-context.ts';

/**
 * One contract for every Transport implementation (in-memory, PeerJS in the browser and in
 * Node): what the mesh relies on, checked the same way against each.
 */
export interface TransportPair {
  a: Transport;
  b: Transport;
  /** An id nobody holds, for the failing dial. */
  absentId: string;
  close(): Promise<void>;
}

const until = async (what: string, fn: () => boolean, ms = 10_000): Promise<void> => {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const inbound = (t: Transport): Promise<Channel> =>
  new Promise((resolve) => {
    t.onChannel = resolve;
  });

const pattern = (n: number, seed: number): Uint8Array => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
};

/** Copies every frame between two channels both ways, and a close across: a relay. */
function relay(r1: Channel, r2: Channel): void {
  r1.onFrame = (f) => void r2.send(f.slice()).catch(() => {});
  r2.onFrame = (f) => void r1.send(f.slice()).catch(() => {});
  r1.onClose = () => r2.close();
  r2.onClose = () => r1.close();
}

/** Runs the link handshake on both channels (fresh devices, one mesh); how each side ended. */
async function handshake(ca: Channel, cb: Channel): Promise<string[]> {
  const meshKey = newMeshKey(random);
  const [ctxA, ctxB] = [await linkContext(meshKey), await linkContext(meshKey)];
  return Promise.all([outcome(establishLink(ca, ctxA)), outcome(establishLink(cb, ctxB))]);
}

/** Refused by at least one side as intercepted, and by neither linked. */
function expectIntercepted(results: string[]): void {
  expect(results).toContain('CHANNEL_INTERCEPTED');
  expect(results.every((r) => ['CHANNEL_INTERCEPTED', 'CHANNEL_CLOSED'].includes(r))).toBe(true);
}

export function transportContract(name: string, makePair: () => Promise<TransportPair>): void {
  describe(`Transport contract: ${name}`, () => {
    it('dials, reports both ends, and carries frames in order both ways, byte-exact', async () => {
      const p = await makePair();
      try {
        const accepted = inbound(p.b);
        const ca = await p.a.dial(p.b.id);
        const cb = await accepted;
        expect([ca.remoteId, cb.remoteId]).toEqual([p.b.id, p.a.id]);
        expect([ca.initiator, cb.initiator]).toEqual([true, false]);
        expect(ca.open && cb.open).toBe(true);
        const gotB: Uint8Array[] = [];
        const gotA: Uint8Array[] = [];
        cb.onFrame = (f) => gotB.push(f.slice());
        ca.onFrame = (f) => gotA.push(f.slice());
        for (let i = 0; i < 100; i++) await ca.send(pattern(1 + i * 37, i));
        await cb.send(pattern(ca.maxFrameBytes, 7));
        await until('100 frames at b', () => gotB.length === 100);
        await until('1 frame at a', () => gotA.length === 1);
        gotB.forEach((f, i) => expect(f).toEqual(pattern(1 + i * 37, i)));
        expect(bytesEqual(gotA[0]!, pattern(ca.maxFrameBytes, 7))).toBe(true);
      } finally {
        await p.close();
      }
    });

    it('queues frames that arrive before a handler is set', async () => {
      const p = await makePair();
      try {
        const accepted = inbound(p.b);
        const ca = await p.a.dial(p.b.id);
        const cb = await accepted;
        for (let i = 0; i < 5; i++) await ca.send(pattern(100, i));
        await new Promise((r) => setTimeout(r, 100));
        const got: Uint8Array[] = [];
        cb.onFrame = (f) => got.push(f.slice());
        await until('5 early frames', () => got.length === 5);
        got.forEach((f, i) => expect(f).toEqual(pattern(100, i)));
      } finally {
        await p.close();
      }
    });

    it('carries 32 MiB with backpressure through framing, intact', async () => {
      const p = await makePair();
      try {
        const accepted = inbound(p.b);
        const ca = await p.a.dial(p.b.id);
        const cb = await accepted;
        const msgs: Uint8Array[] = [];
        const opts = { maxMessageBytes: 8 << 20, onReject: () => {} };
        const fa = new FramedChannel(ca, { ...opts, onMessage: () => {} });
        new FramedChannel(cb, { ...opts, onMessage: (m) => msgs.push(m) });
        for (let i = 0; i < 8; i++) await fa.send(pattern(4 << 20, i));
        await until('8 messages of 4 MiB', () => msgs.length === 8, 60_000);
        // Element-wise toEqual on 4 MiB arrays is very slow; compare bytes directly.
        msgs.forEach((m, i) =>
          expect(bytesEqual(m, pattern(4 << 20, i)), `message ${i}`).toBe(true),
        );
      } finally {
        await p.close();
      }
    }, 90_000);

    it('tells the other end when a channel closes; later sends fail with ClosedError', async () => {
      const p = await makePair();
      try {
        const accepted = inbound(p.b);
        const ca = await p.a.dial(p.b.id);
        const cb = await accepted;
        let closed = false;
        cb.onClose = () => (closed = true);
        ca.close();
        await until('close at the far end', () => closed);
        expect(cb.open).toBe(false);
        await expect(ca.send(new Uint8Array(1))).rejects.toBeInstanceOf(ClosedError);
        await expect(cb.send(new Uint8Array(1))).rejects.toBeInstanceOf(ClosedError);
      } finally {
        await p.close();
      }
    });

    it('binds each channel to its session: both ends see the same two certificates', async () => {
      const p = await makePair();
      try {
        const accepted = inbound(p.b);
        const ca = await p.a.dial(p.b.id);
        const cb = await accepted;
        const [x, y] = [ca.binding, cb.binding];
        expect(x.local.length).toBeGreaterThan(0);
        expect(x.remote.length).toBeGreaterThan(0);
        expect(x.local).not.toBe(x.remote);
        expect([y.local, y.remote]).toEqual([x.remote, x.local]);
        // The link handshake over it succeeds.
        expect(await handshake(ca, cb)).toEqual(['linked', 'linked']);
      } finally {
        await p.close();
      }
    }, 30_000);

    it('a relay between two channels (a swapped-certificate MITM) fails the handshake: CHANNEL_INTERCEPTED', async () => {
      // A dials the relay's first end; the relay's second end dials B and copies frames both
      // ways, as a signaling server that swapped the SDP fingerprints could. Every handshake
      // message arrives intact, so only the channel binding can tell.
      const p1 = await makePair();
      const p2 = await makePair();
      try {
        const atRelay = inbound(p1.b);
        const atB = inbound(p2.b);
        const ca = await p1.a.dial(p1.b.id);
        const r1 = await atRelay;
        const r2 = await p2.a.dial(p2.b.id);
        const cb = await atB;
        relay(r1, r2);
        expectIntercepted(await handshake(ca, cb));
      } finally {
        await p1.close();
        await p2.close();
      }
    }, 30_000);

    it('a relay pairing two dialers is CHANNEL_INTERCEPTED too, not a wrong mesh key', async () => {
      const p1 = await makePair();
      const p2 = await makePair();
      try {
        const at1 = inbound(p1.b);
        const at2 = inbound(p2.b);
        const ca = await p1.a.dial(p1.b.id);
        const cb = await p2.a.dial(p2.b.id);
        const [r1, r2] = [await at1, await at2];
        expect([ca.initiator, cb.initiator]).toEqual([true, true]);
        relay(r1, r2);
        expectIntercepted(await handshake(ca, cb));
      } finally {
        await p1.close();
        await p2.close();
      }
    }, 30_000);

    it('carries a goodbye through signaling to each peer named, payload intact', async () => {
      const p = await makePair();
      try {
        const got: [string, unknown][] = [];
        p.b.onGoodbye = (from, payload) => got.push([from, payload]);
        expect(p.a.sendGoodbye).toBeTypeOf('function');
        const payload = { wos: 'bye', v: 1, sig: 'x'.repeat(86) };
        p.a.sendGoodbye!([p.b.id], payload);
        await until('the goodbye at b', () => got.length === 1);
        expect(got[0]).toEqual([p.a.id, payload]);
      } finally {
        await p.close();
      }
    });

    it('rejects a dial to a peer that does not exist with a WosError', async () => {
      const p = await makePair();
      try {
        await expect(p.a.dial(p.absentId)).rejects.toBeInstanceOf(WosError);
      } finally {
        await p.close();
      }
    }, 30_000);
  });
}
