import { afterEach, describe, expect, it } from 'vitest';
import { iceServersFromEnv } from '../../signaling-server/config.ts';
import { ConfigError } from '../../signaling-server/errors.ts';
import { createWosServer } from '../../signaling-server/server.ts';
import { closeAll, HOST, meshId, PeerClient, postJson, startServer, until } from './helpers.ts';

afterEach(closeAll);

describe('/config, /healthz, /metrics', () => {
  it('GET /config has no ICE servers by default', async () => {
    const s = await startServer({ iceServers: undefined });
    const res = await fetch(`${s.base}/config`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      v: 1,
      iceServers: [],
      peerPath: '/peerjs',
      peerKey: 'peerjs',
    });
  });

  it('GET /config returns ICE servers from the option', async () => {
    const ice = [
      { urls: 'stun:stun.example.org:3478' },
      { urls: ['turn:t.example.org'], username: 'u', credential: 'c' },
    ];
    const s = await startServer({ iceServers: ice });
    expect(
      ((await (await fetch(`${s.base}/config`)).json()) as { iceServers: unknown }).iceServers,
    ).toEqual(ice);
  });

  it('reads WOS_ICE_SERVERS and fails loudly on a bad value', async () => {
    expect(iceServersFromEnv({ WOS_ICE_SERVERS: '[{"urls":"stun:s.example:3478"}]' })).toEqual([
      { urls: 'stun:s.example:3478' },
    ]);
    expect(iceServersFromEnv({})).toEqual([]);
    expect(() => iceServersFromEnv({ WOS_ICE_SERVERS: '[{' })).toThrow(ConfigError);
    expect(() => iceServersFromEnv({ WOS_ICE_SERVERS: '[{"urls":"http://x"}]' })).toThrow(
      /stun: or turn:/,
    );
    await expect(
      createWosServer({ port: 0, host: HOST, iceServers: [{ urls: 'ftp:x' }] }),
    ).rejects.toThrow(ConfigError);
  });

  it('GET /healthz reports uptime, peers and meshes', async () => {
    const s = await startServer();
    const a = await PeerClient.connect(s, 'h1');
    await postJson(s.base, `/api/mesh/${meshId('h')}/join`, { peerId: 'h1', token: a.token });
    const body = (await (await fetch(`${s.base}/healthz`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ok: true, peers: 1, meshes: 1 });
    expect(typeof body.uptimeS).toBe('number');
  });

  it('GET /metrics is Prometheus text with the WOS series', async () => {
    const s = await startServer();
    const a = await PeerClient.connect(s, 'm1');
    const b = await PeerClient.connect(s, 'm2');
    a.send({ type: 'OFFER', dst: 'm2', payload: {} });
    await b.next((m) => m.type === 'OFFER');
    a.send('not json');
    await until(() => s.metrics().rejects.ws_malformed_json === 1, 2000, 'reject counted');
    await postJson(s.base, `/api/mesh/${meshId()}/join`, { peerId: 'm1', token: 'wrong' });
    const res = await fetch(`${s.base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      if (!line) throw new Error(`no series ${series}`);
      return Number(line.slice(series.length + 1));
    };
    expect(value('wos_peers_connected')).toBe(2);
    expect(value('wos_meshes')).toBe(0);
    expect(value('wos_messages_total')).toBe(1);
    expect(value('wos_rejects_total{reason="ws_malformed_json"}')).toBe(1);
    expect(value('wos_rejects_total{reason="invalid_token"}')).toBe(1);
    expect(value('wos_rejects_total{reason="rate_limited"}')).toBe(0);
    expect(value('wos_http_requests_total')).toBeGreaterThanOrEqual(2);
    expect(value('wos_process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(text).toMatch(/# TYPE wos_messages_total counter/);
    for (const line of text.trim().split('\n')) {
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{reason="\w+"\})? \d+(\.\d+)?)$/);
    }
  });
});

describe('static app', () => {
  it('serves index.html and sw.js with no-cache and hashed assets as immutable', async () => {
    const s = await startServer();
    const index = await fetch(`${s.base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(await index.text()).toContain('<title>WOS</title>');
    const sw = await fetch(`${s.base}/sw.js`);
    expect(sw.headers.get('cache-control')).toBe('no-cache');
    expect(sw.headers.get('content-type')).toMatch(/javascript/);
    const asset = await fetch(`${s.base}/assets/app-3f2a9c.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('falls back to index.html for app routes but not for missing files or API paths', async () => {
    const s = await startServer();
    const route = await fetch(`${s.base}/files/report`, { headers: { accept: 'text/html' } });
    expect(route.status).toBe(200);
    expect(route.headers.get('cache-control')).toBe('no-cache');
    expect(await route.text()).toContain('index');
    expect((await fetch(`${s.base}/share/abc`)).status).toBe(200);
    expect((await fetch(`${s.base}/assets/missing-123.js`)).status).toBe(404);
    expect((await fetch(`${s.base}/missing.js`)).status).toBe(404);
    const api = await fetch(`${s.base}/api/nothing`);
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toMatch(/json/);
    expect((await fetch(`${s.base}/healthz/x`)).status).toBe(404);
  });

  it('says the app is not built when index.html is missing', async () => {
    const s = await startServer({ staticDir: '/nonexistent-wos-dir' });
    const res = await fetch(`${s.base}/`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('APP_NOT_BUILT');
  });
});

describe('request log', () => {
  it('logs one line per request and never a token', async () => {
    const s = await startServer();
    const token = 'SuperSecretToken123';
    const c = await PeerClient.connect(s, 'logme', token);
    await postJson(s.base, `/api/mesh/${meshId()}/join`, { peerId: 'logme', token });
    await fetch(`${s.base}/healthz?token=${token}&x=1`);
    await c.close();
    await until(() => s.logs.length >= 3, 2000, 'log lines');
    const all = s.logs.join('\n');
    expect(all).not.toContain(token);
    expect(all).not.toContain('?');
    expect(s.logs.some((l) => / WS \/peerjs\/peerjs 101$/.test(l))).toBe(true);
    expect(s.logs.some((l) => / POST \/api\/mesh\/[0-9a-f]{64}\/join 200 /.test(l))).toBe(true);
    expect(s.logs.some((l) => / GET \/healthz 200 /.test(l))).toBe(true);
  });
});
