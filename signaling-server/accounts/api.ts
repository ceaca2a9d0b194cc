import express, { type Request, type Response, type Router } from 'express';
import { clientIp } from '../client-ip.ts';
import { NotFoundError, RateLimitedError, UnsupportedMediaTypeError } from '../errors.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { encodeBase64url } from './base64url.ts';
import { sensitiveJsonBody } from './json-body.ts';
import type { AccountMetrics } from './metrics.ts';
import {
  parseChallenge,
  parseDelete,
  parseLogin,
  parseParams,
  parseRegister,
  parseUpdate,
} from './requests.ts';
import type { AccountService } from './service.ts';

export interface AccountApiDeps {
  service: AccountService;
  /** Per-IP bucket for every account request. */
  limiter: RateLimiter;
  metrics: AccountMetrics;
  maxBodyBytes: number;
  trustProxy: boolean;
}

/**
 * Passphrase sign-in, mounted at `/api/account` (all POST, JSON, binary fields as unpadded
 * base64url):
 *
 * - `challenge` `{}` → `{ v: 1, nonce, expiresAt }`: single use, for the next signed request
 * - `register` `{ v: 2, handle, accountKey, salt, kdf, loginKey, sealedSecret, nonce, sig }` →
 *   201 `{ v: 1, handle, createdAt }`; 409 HANDLE_TAKEN / ACCOUNT_KEY_TAKEN
 * - `params` `{ handle }` → `{ v: 1, salt, kdf }` (made-up, stable values for unknown handles)
 * - `login` `{ handle, loginKey }` → `{ v: 1, handle, accountKey, sealedSecret }`
 * - `update` `{ v: 2, handle, loginKey, newSalt, newKdf, newLoginKey, newSealedSecret, nonce,
 *   sig }` → `{ v: 1, updatedAt }`
 * - `delete` `{ v: 2, handle, loginKey, nonce, sig }` → 204
 *
 * `sig` is the account key's signature (src/core/account/account-requests.ts). Unknown handle or
 * wrong key: 401 LOGIN_FAILED; too many failures for a handle from the caller's network: 429
 * LOGIN_RATE_LIMITED; per-IP bucket empty: 429 RATE_LIMITED. Bodies are never logged.
 */
export function accountApi(d: AccountApiDeps): Router {
  const r = express.Router();
  r.use((req, res, next) => {
    res.set('Cache-Control', 'no-store');
    const wait = d.limiter.take(clientIp(req, d.trustProxy));
    if (wait > 0) {
      d.metrics.ipLimited++;
      throw new RateLimitedError(Math.ceil(wait));
    }
    if (req.method !== 'POST') throw new NotFoundError(`${req.method} /api/account${req.path}`);
    if (!req.is('application/json')) throw new UnsupportedMediaTypeError();
    next();
  });
  r.use(sensitiveJsonBody(d.maxBodyBytes));

  const ip = (req: Request): string => clientIp(req, d.trustProxy);
  // Express 4 does not catch rejected promises: pass them to the error handler.
  const signed =
    (handler: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: (err?: unknown) => void): void => {
      handler(req, res).catch(next);
    };

  r.post('/challenge', (req, res) => {
    parseChallenge(req.body);
    const c = d.service.challenge();
    res.json({ v: 1, nonce: encodeBase64url(c.nonce), expiresAt: c.expiresAt });
  });

  r.post(
    '/register',
    signed(async (req, res) => {
      const out = await d.service.register(parseRegister(req.body));
      res.status(201).json({ v: 1, ...out });
    }),
  );

  r.post('/params', (req, res) => {
    const { handle } = parseParams(req.body);
    const p = d.service.params(handle.key);
    res.json({ v: 1, salt: encodeBase64url(p.salt), kdf: p.kdf });
  });

  r.post('/login', (req, res) => {
    const a = d.service.login(parseLogin(req.body), ip(req));
    res.json({
      v: 1,
      handle: a.handle,
      accountKey: encodeBase64url(a.accountKey),
      sealedSecret: encodeBase64url(a.sealedSecret),
    });
  });

  r.post(
    '/update',
    signed(async (req, res) => {
      res.json({ v: 1, ...(await d.service.update(parseUpdate(req.body), ip(req))) });
    }),
  );

  r.post(
    '/delete',
    signed(async (req, res) => {
      await d.service.delete(parseDelete(req.body), ip(req));
      res.status(204).end();
    }),
  );

  r.use((req) => {
    throw new NotFoundError(`${req.method} /api/account${req.path}`);
  });
  return r;
}
