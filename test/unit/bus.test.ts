import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { WithAttachment } from '../../src/core/bus.ts';
import { WosError } from '../../src/core/errors.ts';
import { newMeshKey } from '../../src/core/identity.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode } from '../../src/core/testing/sim-node.ts';

async function mesh(n: number, seed = 7) {
  const clock = new ManualClock();
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, random: rand });
  const meshKey = newMeshKey(bytes);
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const { node } = await createSimNode(net, bytes, { meshKey });
    void node.start();
    nodes.push(node);
    await clock.advance(50);
  }
  await clock.advance(1500);
  return { clock, net, nodes };
}

describe('message bus', () => {
  it('answers requests with bodies and attachments, and carries remote errors with their code', async () => {
    const { clock, nodes } = await mesh(2);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    b.bus.handle(
      't.echo',
      v.strictObject({ x: v.number() }),
      (m) => new WithAttachment({ y: m.body.x * 2 }, m.bin!),
    );
    b.bus.handle('t.fail', v.strictObject({}), () => {
      throw new Error('kernel exploded');
    });
    // Expectations attach before the clock runs, so no rejection goes unhandled.
    const checks = [
      expect(
        a.bus.request(b.id, 't.echo', { x: 21 }, { bin: new Uint8Array([5, 6]) }),
      ).resolves.toMatchObject({
        body: { y: 42 },
        bin: new Uint8Array([5, 6]),
        from: b.id,
      }),
      expect(a.bus.request(b.id, 't.echo', { x: 'no' })).rejects.toMatchObject({
        code: 'INVALID_MESSAGE',
      }),
      expect(a.bus.request(b.id, 't.fail', {})).rejects.toThrow(/kernel exploded/),
      expect(a.bus.request(b.id, 't.nothing', {})).rejects.toMatchObject({
        code: 'INVALID_MESSAGE',
      }),
    ];
    await clock.advance(50);
    await Promise.all(checks);
    expect(b.bus.stats.rejected['invalid']).toBe(1);
    expect(b.bus.stats.rejected['unknown-type']).toBe(1);
  });

  it('times out and honours AbortSignal', async () => {
    const { clock, nodes } = await mesh(2);
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    b.bus.handle('t.never', v.strictObject({}), () => new Promise(() => {}));
    const ctl = new AbortController();
    const checks = [
      expect(a.bus.request(b.id, 't.never', {}, { timeoutMs: 300 })).rejects.toMatchObject({
        code: 'TIMEOUT',
      }),
      expect(
        a.bus.request(b.id, 't.never', {}, { timeoutMs: 10_000, signal: ctl.signal }),
      ).rejects.toMatchObject({ code: 'ABORTED' }),
    ];
    ctl.abort(new Error('user cancelled'));
    await clock.advance(400);
    await Promise.all(checks);
    const pre = a.bus.request(b.id, 't.never', {}, { signal: AbortSignal.abort() });
    await expect(pre).rejects.toMatchObject({ code: 'ABORTED' });
    // `cancel`: the request ends with the error given, once, and forgets its reply.
    let end: ((e: Error) => void) | undefined;
    const cancelled = a.bus.request(b.id, 't.never', {}, { cancel: (e) => (end = e) });
    end!(new WosError('NODE_LOST', 'gone'));
    end!(new Error('second'));
    await expect(cancelled).rejects.toMatchObject({ code: 'NODE_LOST' });
  });

  it('rejects unreachable targets at once', async () => {
    const { nodes } = await mesh(1);
    await expect(
      nodes[0]!.bus.request('zzzzzzzzzzzzzzzz-zzzzzzzz', 'ping', {}),
    ).rejects.toMatchObject({
      code: 'UNREACHABLE',
    });
  });

  it('refuses forged senders, replies from a node not asked, and message ids of another node', async () => {
    const { clock, nodes } = await mesh(3, 9);
    await clock.advance(3000); // links past their first seconds, when relayed traffic still counts
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    let answer: (v: { ok: boolean }) => void = () => {};
    b.bus.handle('t.slow', v.strictObject({}), () => new Promise((r) => (answer = r)));
    const got: string[] = [];
    a.bus.handle(
      't.note',
      v.strictObject({ n: v.number() }),
      (m) => void got.push(`${m.from}:${m.body.n}`),
    );
    const asked = a.bus.request(b.id, 't.slow', {}, { timeoutMs: 5000 });
    await clock.advance(10);
    // c, linked to a, forges packets on its own link to a.
    const toA = c.bus.link(a.id)!;
    const env = (e: Record<string, unknown>) => ({ env: { ttl: 0, to: a.id, ...e } as never });
    // Request ids count up (`<node>/<seq>`): any peer can guess the one a used.
    const ids = (n: number) => `${a.id}/${n}`;
    for (let n = 1; n < 200; n++) {
      // A reply claiming to be b's (c relays nothing for b: a has its own link to b).
      void toA.send(
        env({ id: `${b.id}/9${n}`, f: b.id, t: 't.slow', re: ids(n), b: { ok: false } }),
      );
      // c's own reply to a request a made of b.
      void toA.send(
        env({ id: `${c.id}/9${n}`, f: c.id, t: 't.slow', re: ids(n), b: { ok: false } }),
      );
    }
    // c sends a note under an id of b's, to make a drop b's real message of that id.
    void toA.send(env({ id: `${b.id}/77`, f: c.id, t: 't.note', b: { n: 1 } }));
    await clock.advance(10);
    answer({ ok: true });
    await clock.advance(10);
    await expect(asked).resolves.toMatchObject({ body: { ok: true }, from: b.id });
    expect(got).toEqual([]);
    // Every reply claiming b, the one of c's that answers the pending request (the rest answer
    // nothing and are dropped), and the note under b's id.
    expect(a.bus.stats.rejected['spoofed']).toBe(199 + 1 + 1);
  });
});
