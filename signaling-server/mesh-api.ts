import express, { type Request, type Router } from 'express';
import * as v from 'valibot';
import { clientIp } from './client-ip.ts';
import type { MeshDirectory } from './directory.ts';
import {
  BadRequestError,
  MalformedJsonError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  UnsupportedMediaTypeError,
} from './errors.ts';
import { describeIssues, MeshIdSchema, PeerIdSchema, TokenSchema } from './ids.ts';
import type { PeerGateway } from './peer-gateway.ts';
import type { RateLimiter } from './rate-limit.ts';

/**
 * The mesh directory API, mounted at `/api`:
 *
 * - `POST /api/mesh/:meshId/join` `{ peerId, token }` → 200 `{ v: 1, peers }` (the other members)
 * - `POST /api/mesh/:meshId/leave` `{ peerId, token }` → 204
 * - `GET /api/mesh/:meshId/peers` → 200 `{ v: 1, peers }`
 *
 * `peerId` must be connected over PeerJS and `token` must be the token it connected with.
 */
const MemberBodySchema = v.object(
  { peerId: PeerIdSchema, token: TokenSchema },
  'body must be a JSON object { peerId, token }',
);

export interface MeshApiDeps {
  directory: MeshDirectory;
  gateway: PeerGateway;
  limiter: RateLimiter;
  maxBodyBytes: number;
  trustProxy: boolean;
}

export function meshApi(d: MeshApiDeps): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    res.set('Cache-Control', 'no-store');
    const wait = d.limiter.take(clientIp(req, d.trustProxy));
    if (wait > 0) throw new RateLimitedError(Math.ceil(wait));
    if (req.method === 'POST' && !req.is('application/json')) throw new UnsupportedMediaTypeError();
    next();
  });
  const json = express.json({ limit: d.maxBodyBytes, strict: true });
  r.use((req, res, next) => {
    json(req, res, (err?: unknown) =>
      next(err === undefined ? undefined : bodyError(err, d.maxBodyBytes)),
    );
  });

  r.post('/mesh/:meshId/join', (req, res) => {
    const meshId = meshIdOf(req);
    const { peerId, token } = memberBody(req);
    d.gateway.authenticate(peerId, token);
    res.json({ v: 1, peers: d.directory.join(meshId, peerId) });
  });

  r.post('/mesh/:meshId/leave', (req, res) => {
    const meshId = meshIdOf(req);
    const { peerId, token } = memberBody(req);
    // A disconnected peer is already out of every mesh: nothing to prove, nothing to do.
    if (d.gateway.isConnected(peerId)) {
      d.gateway.authenticate(peerId, token);
      d.directory.leave(meshId, peerId);
    }
    res.status(204).end();
  });

  r.get('/mesh/:meshId/peers', (req, res) => {
    res.json({ v: 1, peers: d.directory.peers(meshIdOf(req)) });
  });

  r.use((req) => {
    throw new NotFoundError(`${req.method} /api${req.path}`);
  });
  return r;
}

function meshIdOf(req: Request): string {
  const r = v.safeParse(MeshIdSchema, req.params.meshId);
  if (!r.success) throw new BadRequestError(describeIssues(r.issues));
  return r.output;
}

function memberBody(req: Request): { peerId: string; token: string } {
  const r = v.safeParse(MemberBodySchema, req.body);
  if (!r.success) throw new BadRequestError(describeIssues(r.issues));
  return r.output;
}

/** Maps body-parser errors to our error classes. */
function bodyError(err: unknown, limit: number): Error {
  const type = (err as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') return new PayloadTooLargeError(limit);
  if (type === 'entity.parse.failed') return new MalformedJsonError();
  return new BadRequestError(err instanceof Error ? err.message : 'unreadable request body');
}
