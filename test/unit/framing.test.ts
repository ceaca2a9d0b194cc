import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import { MessageTooLargeError } from '../../src/core/errors.ts';
import { FramedChannel } from '../../src/core/framing.ts';
import type { Channel } from '../../src/core/transport.ts';

/** A loopback channel pair that delivers synchronously, with a small frame limit. */
function pair(maxFrameBytes = 64): [Channel, Channel, Uint8Array[]] {
  const wire: Uint8Array[] = [];
  const mk = (initiator: boolean): Channel & { peer?: Channel } => ({
    remoteId: 'x',
    initiator,
    binding: { local: initiator ? 'a' : 'b', remote: initiator ? 'b' : 'a' },
    maxFrameBytes,
    open: true,
    onFrame: undefined,
    onClose: undefined,
    async send(f) {
      wire.push(f);
      this.peer!.onFrame?.(f);
    },
    close() {},
  });
  const a = mk(true);
  const b = mk(false);
  a.peer = b;
  b.peer = a;
  return [a, b, wire];
}

describe('framing', () => {
  it('splits messages above the frame limit and joins them again', async () => {
    const [a, b, wire] = pair(64);
    const got: Uint8Array[] = [];
    const fa = new FramedChannel(a, {
      maxMessageBytes: 1 << 20,
      onMessage: () => {},
      onReject: () => {},
    });
    new FramedChannel(b, {
      maxMessageBytes: 1 << 20,
      onMessage: (m) => got.push(m),
      onReject: () => {},
    });
    const big = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    await fa.send(new Uint8Array([1, 2, 3]));
    await fa.send(big);
    await fa.send(new Uint8Array(0));
    expect(got).toHaveLength(3);
    expect(got[0]).toEqual(new Uint8Array([1, 2, 3]));
    expect(bytesEqual(got[1]!, big)).toBe(true);
    expect(got[2]).toHaveLength(0);
    expect(wire.every((f) => f.length <= 64)).toBe(true);
    expect(wire.length).toBeGreaterThan(16);
  });

  it('refuses to send or accept messages over the limit, without buffering them', async () => {
    const [a, b] = pair(64);
    const rejects: string[] = [];
    const got: Uint8Array[] = [];
    const fa = new FramedChannel(a, {
      maxMessageBytes: 1 << 20,
      onMessage: () => {},
      onReject: () => {},
    });
    new FramedChannel(b, {
      maxMessageBytes: 100,
      onMessage: (m) => got.push(m),
      onReject: (r) => rejects.push(r),
    });
    await fa.send(new Uint8Array(500));
    expect(rejects).toEqual(['oversized']);
    await fa.send(new Uint8Array([7]));
    expect(got).toEqual([new Uint8Array([7])]);
    await expect(fa.send(new Uint8Array(2 << 20))).rejects.toBeInstanceOf(MessageTooLargeError);
  });

  it('rejects malformed frame sequences and recovers on the next message', async () => {
    const [a, b] = pair(64);
    const rejects: string[] = [];
    const got: Uint8Array[] = [];
    new FramedChannel(b, {
      maxMessageBytes: 1000,
      onMessage: (m) => got.push(m),
      onReject: (r, d) => rejects.push(`${r}: ${d}`),
    });
    const send = (bytes: number[]): Promise<void> => a.send(new Uint8Array(bytes));
    await send([]);
    await send([9, 1]);
    await send([2, 1, 2]); // continuation without a start
    await send([1, 0, 0, 0, 10, 1, 2]); // start of 10 bytes ...
    await send([0, 5]); // ... interrupted by a whole message
    await send([1, 0, 0, 0, 2, 1]); // start of 2 bytes
    await send([3, 1, 2, 3]); // more than announced
    await send([1, 0, 0, 0, 4, 1]); // start of 4 bytes
    await send([3, 2]); // fewer than announced
    await send([0, 42]);
    expect(rejects.map((r) => r.split(':')[0])).toEqual(Array(6).fill('bad-frame'));
    expect(got).toEqual([new Uint8Array([42])]);
  });
});

describe('framing under concurrent sends', () => {
  it('never interleaves the frames of split messages sent at once', async () => {
    const [a, b] = pair(64);
    // A channel whose send yields between frames, as a full WebRTC buffer does.
    const slow = {
      ...a,
      send: async (f: Uint8Array) => {
        await new Promise((r) => setTimeout(r, 0));
        await a.send(f);
      },
    };
    const got: Uint8Array[] = [];
    const rejects: string[] = [];
    const fa = new FramedChannel(slow as Channel, {
      maxMessageBytes: 1 << 20,
      onMessage: () => {},
      onReject: () => {},
    });
    new FramedChannel(b, {
      maxMessageBytes: 1 << 20,
      onMessage: (m) => got.push(m),
      onReject: (r) => rejects.push(r),
    });
    const msgs = [500, 3, 700, 1].map((n, i) => new Uint8Array(n).fill(i + 1));
    await Promise.all(msgs.map((m) => fa.send(m)));
    expect(rejects).toEqual([]);
    expect(got.map((m) => [m.length, m[0]])).toEqual(msgs.map((m) => [m.length, m[0]]));
  });
});
