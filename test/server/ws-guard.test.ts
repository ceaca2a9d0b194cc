import { afterEach, describe, expect, it } from 'vitest';
import { checkClientMessage } from '../../signaling-server/peer-messages.ts';
import { closeAll, PeerClient, startServer, until } from './helpers.ts';

afterEach(closeAll);

describe('websocket message guard', () => {
  it('rejects and counts garbage without crashing or disturbing other clients', async () => {
    const s = await startServer();
    const evil = await PeerClient.connect(s, 'evil');
    const a = await PeerClient.connect(s, 'good-a');
    const b = await PeerClient.connect(s, 'good-b');
    const garbage: (string | Buffer)[] = [
      '{nope', // malformed JSON — peer@1.0.2 alone crashes the process on this
      '',
      'null',
      '42',
      '"str"',
      '[1,2]',
      '{}',
      '{"type":"OPEN"}',
      '{"type":"EXPIRE","dst":"good-a"}',
      '{"type":"ID-TAKEN","dst":"good-a"}',
      '{"type":"LEAVE"}', // peer@1.0.2 would drop the sender from its realm but keep the socket
      '{"type":"OFFER","dst":"../etc"}',
      `{"type":"OFFER","dst":"${'x'.repeat(65)}"}`,
      '{"type":"OFFER","dst":42}',
      '{"type":{"x":1}}',
      Buffer.from([0xde, 0xad, 0xbe, 0xef]),
    ];
    for (const g of garbage) evil.ws.send(g, { binary: Buffer.isBuffer(g) });
    await until(() => s.metrics().rejectsTotal === garbage.length, 2000, 'all garbage rejected');
    expect(s.metrics().rejects).toMatchObject({
      ws_malformed_json: 2,
      ws_bad_message: 8,
      ws_unknown_type: 5,
      ws_binary: 1,
    });
    expect(s.metrics().messagesTotal).toBe(0);
    expect(a.received).toEqual([{ type: 'OPEN' }]);

    // The sender stays connected and registered; everyone still relays.
    expect(evil.closeCode).toBeUndefined();
    expect(s.metrics().peers).toBe(3);
    a.send({ type: 'OFFER', dst: 'good-b', payload: { sdp: 'x' } });
    expect(await b.next((m) => m.type === 'OFFER')).toMatchObject({ src: 'good-a' });
    evil.send({ type: 'CANDIDATE', dst: 'good-a', payload: { c: 1 } });
    expect(await a.next((m) => m.type === 'CANDIDATE')).toMatchObject({ src: 'evil' });
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
  });

  it('closes a socket that sends an oversized message (1009), counts it, others unaffected', async () => {
    const s = await startServer({ maxMessageBytes: 64 * 1024 });
    const big = await PeerClient.connect(s, 'big-sender');
    const a = await PeerClient.connect(s, 'calm-a');
    const b = await PeerClient.connect(s, 'calm-b');
    const ok = JSON.stringify({
      type: 'OFFER',
      dst: 'calm-a',
      payload: { sdp: 'y'.repeat(60_000) },
    });
    big.send(ok);
    expect(await a.next((m) => m.type === 'OFFER')).toMatchObject({ src: 'big-sender' });
    big.send({ type: 'OFFER', dst: 'calm-a', payload: { sdp: 'z'.repeat(70_000) } });
    expect(await big.closed).toBe(1009);
    await until(() => s.metrics().rejects.ws_oversized === 1, 2000, 'oversized counted');
    await until(() => s.metrics().peers === 2, 2000, 'big-sender gone');
    a.send({ type: 'ANSWER', dst: 'calm-b', payload: {} });
    expect(await b.next((m) => m.type === 'ANSWER')).toMatchObject({ src: 'calm-a' });
    expect(a.received.filter((m) => m.type === 'OFFER')).toHaveLength(1);
  });
});

describe('checkClientMessage', () => {
  it('accepts what the peerjs client sends and strips extra fields', () => {
    expect(checkClientMessage(Buffer.from('{"type":"HEARTBEAT","x":1}'), false)).toEqual({
      ok: true,
      kind: 'heartbeat',
      text: '{"type":"HEARTBEAT"}',
    });
    const r = checkClientMessage(
      '{"type":"LEAVE","dst":"peer-1","src":"spoof","junk":true}',
      false,
    );
    expect(r).toEqual({ ok: true, kind: 'relay', text: '{"type":"LEAVE","dst":"peer-1"}' });
  });

  it('names the reason for each rejection', () => {
    expect(checkClientMessage('{"type":"HEARTBEAT"}', true)).toEqual({
      ok: false,
      reason: 'ws_binary',
    });
    expect(checkClientMessage('{', false)).toEqual({ ok: false, reason: 'ws_malformed_json' });
    expect(checkClientMessage('{"type":"NOPE"}', false)).toEqual({
      ok: false,
      reason: 'ws_unknown_type',
    });
    expect(checkClientMessage('{"type":"OFFER"}', false)).toEqual({
      ok: false,
      reason: 'ws_bad_message',
    });
  });
});
