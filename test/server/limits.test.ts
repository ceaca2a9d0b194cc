import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { RateLimiter, takeInline } from '../../signaling-server/rate-limit.ts';
import {
  closeAll,
  errorCode,
  HOST,
  meshId,
  PeerClient,
  postJson,
  startServer,
  until,
} from './helpers.ts';

afterEach(closeAll);

function upgradeStatus(
  port: number,
  id: string,
): Promise<{ status: number; retryAfter: string | undefined }> {
  const ws = new WebSocket(
    `ws://${HOST}:${port}/peerjs/peerjs?key=peerjs&id=${id}&token=t&version=1.5.5`,
  );
  return new Promise((resolve) => {
    ws.on('error', () => {});
    ws.on('open', () => {
      resolve({ status: 101, retryAfter: undefined });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      const ra = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : undefined });
      res.resume();
    });
  });
}

describe('request size limits', () => {
  it('413 for JSON bodies over maxBodyBytes (default 4 KiB)', async () => {
    const s = await startServer();
    await PeerClient.connect(s, 'big');
    const body = JSON.stringify({ peerId: 'big', token: 'tok-big', pad: 'x'.repeat(5000) });
    const res = await postJson(s.base, `/api/mesh/${meshId()}/join`, body);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe('PAYLOAD_TOO_LARGE');
    const ok = await postJson(s.base, `/api/mesh/${meshId()}/join`, {
      peerId: 'big',
      token: 'tok-big',
      pad: 'x'.repeat(3000),
    });
    expect(ok.status).toBe(200);
    expect(s.metrics().rejects.payload_too_large).toBe(1);
  });

  it('honours a configured maxBodyBytes', async () => {
    const s = await startServer({ maxBodyBytes: 100 });
    const res = await postJson(s.base, `/api/mesh/${meshId()}/join`, {
      peerId: 'p',
      token: 't',
      pad: 'x'.repeat(100),
    });
    expect(res.status).toBe(413);
  });
});

describe('per-IP rate limits', () => {
  it('429 with Retry-After on /api once the burst is spent', async () => {
    const s = await startServer({ rateLimit: { api: { ratePerSec: 0.2, burst: 5 } } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${s.base}/api/mesh/${meshId()}/peers`);
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after');
        expect(await errorCode(res)).toBe('RATE_LIMITED');
      }
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(s.metrics().rejects.rate_limited).toBe(3);
    // non-API routes are not limited by the API bucket
    expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
  });

  it('defaults let 10 tabs connect, join and poll at once', async () => {
    const s = await startServer();
    const m = meshId('tabs');
    const tabs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => PeerClient.connect(s, `tab${i}`)),
    );
    expect(tabs.every((t) => t.received[0]?.type === 'OPEN')).toBe(true);
    const joins = await Promise.all(
      tabs.map((t) => postJson(s.base, `/api/mesh/${m}/join`, { peerId: t.id, token: t.token })),
    );
    expect(joins.map((r) => r.status)).toEqual(Array(10).fill(200));
    const polls = await Promise.all(tabs.map(() => fetch(`${s.base}/api/mesh/${m}/peers`)));
    expect(polls.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(s.metrics().rejectsTotal).toBe(0);
  });

  it('429 on PeerJS websocket connects beyond the per-IP burst', async () => {
    const s = await startServer({ rateLimit: { wsConnect: { ratePerSec: 0.1, burst: 3 } } });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await upgradeStatus(s.port, `c${i}`));
    expect(results.map((r) => r.status)).toEqual([101, 101, 101, 429, 429]);
    expect(Number(results[3]?.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(s.metrics().rejects.ws_rate_limited).toBe(2);
  });

  it('caps open websockets per IP', async () => {
    const s = await startServer({ rateLimit: { maxSocketsPerIp: 2 } });
    const a = await PeerClient.connect(s, 'o1');
    await PeerClient.connect(s, 'o2');
    expect((await upgradeStatus(s.port, 'o3')).status).toBe(429);
    expect(s.metrics().rejects.ws_too_many_sockets).toBe(1);
    await a.close();
    await until(async () => (await upgradeStatus(s.port, 'o4')).status === 101, 2000, 'slot freed');
  });

  it('drops websocket messages beyond the per-socket rate and keeps the socket', async () => {
    const s = await startServer({ rateLimit: { wsMessages: { ratePerSec: 1, burst: 5 } } });
    const a = await PeerClient.connect(s, 'flood');
    const b = await PeerClient.connect(s, 'sink');
    for (let i = 0; i < 20; i++) a.send({ type: 'CANDIDATE', dst: 'sink', payload: { i } });
    await until(() => s.metrics().rejects.ws_message_rate_limited === 15, 2000, 'rate rejects');
    await until(
      () => b.received.filter((m) => m.type === 'CANDIDATE').length === 5,
      2000,
      '5 relayed',
    );
    expect(s.metrics().messagesTotal).toBe(5);
    expect(a.closeCode).toBeUndefined();
  });
});

describe('RateLimiter', () => {
  it('refills at the configured rate up to the burst and says how long to wait', () => {
    let now = 0;
    const rl = new RateLimiter({ ratePerSec: 2, burst: 3 }, { now: () => now });
    expect([rl.take('ip'), rl.take('ip'), rl.take('ip')]).toEqual([0, 0, 0]);
    expect(rl.take('ip')).toBeCloseTo(0.5);
    expect(rl.take('other')).toBe(0);
    now = 500;
    expect(rl.take('ip')).toBe(0);
    expect(rl.take('ip')).toBeGreaterThan(0);
    now = 100_000;
    rl.sweep();
    expect(rl.size).toBe(0);
  });

  it('bounds the number of tracked keys', () => {
    const rl = new RateLimiter({ ratePerSec: 1, burst: 1 }, { now: () => 0, maxKeys: 10 });
    for (let i = 0; i < 100; i++) rl.take(`ip${i}`);
    expect(rl.size).toBeLessThanOrEqual(10);
  });

  it('inline buckets work the same way', () => {
    const b = { wosTokens: 2, wosTokensAt: 0 };
    const spec = { ratePerSec: 10, burst: 2 };
    expect([takeInline(b, spec, 0), takeInline(b, spec, 0), takeInline(b, spec, 0)]).toEqual([
      true,
      true,
      false,
    ]);
    expect(takeInline(b, spec, 100)).toBe(true);
  });
});
