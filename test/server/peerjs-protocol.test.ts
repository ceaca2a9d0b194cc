import { afterEach, describe, expect, it } from 'vitest';
import {
  closeAll,
  meshId,
  PeerClient,
  postJson,
  sleep,
  startServer,
  until,
  within,
} from './helpers.ts';

afterEach(closeAll);

describe('PeerJS websocket protocol (peer@1.0.2 behind our gateway)', () => {
  it('answers OPEN and relays OFFER/ANSWER/CANDIDATE with src set by the server', async () => {
    const s = await startServer();
    const a = await PeerClient.connect(s, 'alice');
    const b = await PeerClient.connect(s, 'bob');
    expect(a.received[0]).toEqual({ type: 'OPEN' });
    expect(b.received[0]).toEqual({ type: 'OPEN' });

    const offer = { sdp: 'v=0 offer', type: 'data', connectionId: 'dc_1' };
    a.send({ type: 'OFFER', dst: 'bob', src: 'mallory', payload: offer, extra: 'dropped' });
    expect(await b.next((m) => m.type === 'OFFER')).toEqual({
      type: 'OFFER',
      src: 'alice',
      dst: 'bob',
      payload: offer,
    });
    b.send({ type: 'ANSWER', dst: 'alice', payload: { sdp: 'v=0 answer', connectionId: 'dc_1' } });
    expect(await a.next((m) => m.type === 'ANSWER')).toMatchObject({ src: 'bob', dst: 'alice' });
    b.send({ type: 'CANDIDATE', dst: 'alice', payload: { candidate: 'c1', connectionId: 'dc_1' } });
    expect(await a.next((m) => m.type === 'CANDIDATE')).toMatchObject({ src: 'bob' });
    a.send({ type: 'HEARTBEAT' });
    await until(() => s.metrics().heartbeatsTotal === 1, 2000, 'heartbeat counted');
    expect(s.metrics().messagesTotal).toBe(3);
    expect(s.metrics().peers).toBe(2);
    expect(s.metrics().wsConnectionsTotal).toBe(2);
  });

  it('queues a message for a peer that is not connected yet and delivers it on connect', async () => {
    const s = await startServer();
    const a = await PeerClient.connect(s, 'early');
    a.send({ type: 'OFFER', dst: 'late', payload: { connectionId: 'x' } });
    await until(() => s.metrics().messagesTotal === 1, 2000, 'offer accepted');
    const late = await PeerClient.connect(s, 'late');
    expect(late.received[0]).toEqual({ type: 'OPEN' });
    expect(await late.next((m) => m.type === 'OFFER')).toMatchObject({ src: 'early' });
  });

  it('keeps PeerJS id rules: another token gets ID-TAKEN', async () => {
    const s = await startServer();
    await PeerClient.connect(s, 'carol', 'token-1');
    const thief = await PeerClient.connect(s, 'carol', 'token-2');
    expect(thief.received[0]).toEqual({ type: 'ID-TAKEN', payload: { msg: 'ID is taken' } });
    await thief.closed;
    expect(s.metrics().rejects.ws_id_taken).toBe(1);
    expect(s.metrics().peers).toBe(1);
  });

  it('accepts a reconnect with the same id and token while the old socket lingers', async () => {
    const s = await startServer();
    const mesh = meshId('reconnect');
    const old = await PeerClient.connect(s, 'dave', 'secret-dave');
    const other = await PeerClient.connect(s, 'erin');
    expect(
      (await postJson(s.base, `/api/mesh/${mesh}/join`, { peerId: 'dave', token: 'secret-dave' }))
        .status,
    ).toBe(200);

    const fresh = await PeerClient.connect(s, 'dave', 'secret-dave');
    expect(fresh.received[0]).toEqual({ type: 'OPEN' });
    // The lingering socket is told why and closed; it does not count as a disconnect.
    expect(await within(old.closed, 3000, 'old socket closed')).toBe(4000);
    expect(old.types()).toContain('ERROR');
    expect(s.metrics().wsReconnectsTotal).toBe(1);
    expect(s.metrics().peers).toBe(2);
    const peers = (await (await fetch(`${s.base}/api/mesh/${mesh}/peers`)).json()) as {
      peers: string[];
    };
    expect(peers.peers).toEqual(['dave']);

    other.send({ type: 'OFFER', dst: 'dave', payload: { connectionId: 'r1' } });
    expect(await fresh.next((m) => m.type === 'OFFER')).toMatchObject({ src: 'erin' });
    fresh.send({ type: 'ANSWER', dst: 'erin', payload: { connectionId: 'r1' } });
    expect(await other.next((m) => m.type === 'ANSWER')).toMatchObject({ src: 'dave' });
  });

  it('accepts a reconnect with the same id after the old socket closed', async () => {
    const s = await startServer();
    const first = await PeerClient.connect(s, 'frank', 'tok-frank');
    await first.close();
    await until(() => s.metrics().peers === 0, 2000, 'peer gone');
    const again = await PeerClient.connect(s, 'frank', 'tok-frank');
    expect(again.received).toEqual([{ type: 'OPEN' }]);
    await sleep(50);
    expect(again.received).toHaveLength(1); // exactly one OPEN
  });

  it('refuses bad ids, tokens and keys with an ERROR the peerjs client understands', async () => {
    const s = await startServer();
    const cases: [string, string, string | undefined][] = [
      ['a'.repeat(65), 'tok', undefined],
      ['bad..id', 'tok', undefined],
      ['-lead', 'tok', undefined],
      ['ok-id', 'bad token!', undefined],
      ['ok-id', 'tok', 'wrongkey'],
    ];
    for (const [id, token, key] of cases) {
      const c = await PeerClient.connect(s, id, token, key ? { key } : {});
      expect(c.received[0]?.type, `${id}/${token}/${key}`).toBe('ERROR');
      expect(await c.closed).toBe(1008);
    }
    expect(s.metrics().rejects.ws_bad_params).toBe(4);
    expect(s.metrics().rejects.ws_invalid_key).toBe(1);
    expect(s.metrics().peers).toBe(0);
  });

  it('accepts ids at the 64-character limit and with PeerJS separators', async () => {
    const s = await startServer();
    for (const id of ['x'.repeat(64), 'node-1_a b']) {
      const c = await PeerClient.connect(s, id, 'tok_1-A');
      expect(c.received[0], id).toEqual({ type: 'OPEN' });
    }
  });

  it('refuses websocket upgrades on other paths', async () => {
    const s = await startServer();
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/elsewhere`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(404);
    expect(s.metrics().rejects.ws_bad_path).toBe(1);
  });
});
