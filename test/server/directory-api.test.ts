import { afterEach, describe, expect, it } from 'vitest';
import { MeshDirectory } from '../../signaling-server/directory.ts';
import { MeshFullError, TooManyMeshesError } from '../../signaling-server/errors.ts';
import { closeAll, errorCode, meshId, PeerClient, postJson, startServer } from './helpers.ts';

afterEach(closeAll);

describe('mesh directory HTTP API', () => {
  it('join returns the other connected members; peers lists all; leave removes', async () => {
    const s = await startServer();
    const m = meshId('team');
    const a = await PeerClient.connect(s, 'ann');
    const b = await PeerClient.connect(s, 'ben');
    const r1 = await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'ann', token: a.token });
    expect(r1.status).toBe(200);
    expect(r1.headers.get('cache-control')).toBe('no-store');
    expect(await r1.json()).toEqual({ v: 1, peers: [] });
    const r2 = await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'ben', token: b.token });
    expect(await r2.json()).toEqual({ v: 1, peers: ['ann'] });
    // idempotent
    const r3 = await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'ann', token: a.token });
    expect(await r3.json()).toEqual({ v: 1, peers: ['ben'] });

    const list = await fetch(`${s.base}/api/mesh/${m}/peers`);
    expect(await list.json()).toEqual({ v: 1, peers: ['ann', 'ben'] });
    expect(await (await fetch(`${s.base}/api/mesh/${meshId('other')}/peers`)).json()).toEqual({
      v: 1,
      peers: [],
    });

    const leave = await postJson(s.base, `/api/mesh/${m}/leave`, { peerId: 'ann', token: a.token });
    expect(leave.status).toBe(204);
    expect(await (await fetch(`${s.base}/api/mesh/${m}/peers`)).json()).toEqual({
      v: 1,
      peers: ['ben'],
    });
    expect(s.metrics()).toMatchObject({ meshes: 1, memberships: 1 });
  });

  it('proves id ownership: wrong token 403, unconnected id 409', async () => {
    const s = await startServer();
    const m = meshId('auth');
    await PeerClient.connect(s, 'cat', 'right-token');
    const wrong = await postJson(s.base, `/api/mesh/${m}/join`, {
      peerId: 'cat',
      token: 'wrong-token',
    });
    expect(wrong.status).toBe(403);
    expect(await errorCode(wrong)).toBe('INVALID_TOKEN');
    const ghost = await postJson(s.base, `/api/mesh/${m}/join`, {
      peerId: 'ghost',
      token: 'whatever',
    });
    expect(ghost.status).toBe(409);
    expect(await errorCode(ghost)).toBe('PEER_NOT_CONNECTED');
    // leave with a wrong token cannot kick a member out
    await postJson(s.base, `/api/mesh/${m}/join`, { peerId: 'cat', token: 'right-token' });
    const kick = await postJson(s.base, `/api/mesh/${m}/leave`, {
      peerId: 'cat',
      token: 'wrong-token',
    });
    expect(kick.status).toBe(403);
    expect(await (await fetch(`${s.base}/api/mesh/${m}/peers`)).json()).toEqual({
      v: 1,
      peers: ['cat'],
    });
    // leave for a disconnected id is a no-op 204
    expect(
      (await postJson(s.base, `/api/mesh/${m}/leave`, { peerId: 'ghost', token: 'x' })).status,
    ).toBe(204);
    expect(s.metrics().rejects).toMatchObject({ invalid_token: 2, peer_not_connected: 1 });
  });

  it('validates mesh ids, bodies and content types with JSON errors', async () => {
    const s = await startServer();
    await PeerClient.connect(s, 'dan');
    const good = meshId('v');
    const cases: [string, unknown, number, string, Record<string, string>?][] = [
      [
        `/api/mesh/${good.toUpperCase()}/join`,
        { peerId: 'dan', token: 'tok-dan' },
        400,
        'BAD_REQUEST',
      ],
      [`/api/mesh/${good.slice(1)}/join`, { peerId: 'dan', token: 'tok-dan' }, 400, 'BAD_REQUEST'],
      [`/api/mesh/${good}/join`, { peerId: 'dan' }, 400, 'BAD_REQUEST'],
      [`/api/mesh/${good}/join`, { peerId: 'd'.repeat(65), token: 't' }, 400, 'BAD_REQUEST'],
      [`/api/mesh/${good}/join`, { peerId: 'dan', token: 'has space' }, 400, 'BAD_REQUEST'],
      [`/api/mesh/${good}/join`, [1, 2], 400, 'BAD_REQUEST'],
      [`/api/mesh/${good}/join`, '{"peerId": ', 400, 'MALFORMED_JSON'],
      [
        `/api/mesh/${good}/join`,
        'peerId=dan',
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        { 'content-type': 'text/plain' },
      ],
      [`/api/mesh/${good}/nope`, {}, 404, 'NOT_FOUND'],
    ];
    for (const [p, body, status, code, headers] of cases) {
      const res = await postJson(s.base, p, body, headers);
      expect(res.status, `${p} ${JSON.stringify(body)}`).toBe(status);
      const json = (await res.json()) as { error: { code: string; message: string } };
      expect(json.error.code).toBe(code);
      expect(json.error.message.length).toBeGreaterThan(5);
    }
    const badGet = await fetch(`${s.base}/api/mesh/xyz/peers`);
    expect(badGet.status).toBe(400);
    expect(s.metrics().rejects).toMatchObject({
      bad_request: 7,
      malformed_json: 1,
      unsupported_media_type: 1,
    });
  });
});

describe('MeshDirectory', () => {
  it('enforces members per mesh and meshes per peer', () => {
    const d = new MeshDirectory({ maxPeersPerMesh: 2, maxMeshesPerPeer: 2 });
    d.join('m1', 'a');
    d.join('m1', 'b');
    expect(() => d.join('m1', 'c')).toThrow(MeshFullError);
    expect(d.join('m1', 'a')).toEqual(['b']); // re-join of a member is not limited
    d.join('m2', 'a');
    expect(() => d.join('m3', 'a')).toThrow(TooManyMeshesError);
    expect(d.dropPeer('a').sort()).toEqual(['m1', 'm2']);
    expect(d.meshCount).toBe(1);
    expect(d.memberships).toBe(1);
    expect(d.leave('m1', 'b')).toBe(true);
    expect(d.leave('m1', 'b')).toBe(false);
    expect(d.meshCount).toBe(0);
  });
});
