import express, { type Router } from 'express';
import { clientIp } from '../client-ip.ts';
import { NotFoundError, RateLimitedError, UnsupportedMediaTypeError } from '../errors.ts';
import type { RateLimiter } from '../rate-limit.ts';
import { encodeBase64url } from './base64url.ts';
import { sensitiveJsonBody } from './json-body.ts';
import type { AccountMetrics } from './metrics.ts';
import { parseLogin, parseParams, parseRegister, parseUpdate } from './requests.ts';
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
 * - `register` `{ handle, accountKey, salt, kdf, loginKey, sealedSecret }` → 201
 *   `{ v: 1, handle, createdAt }`; 409 HANDLE_TAKEN / ACCOUNT_KEY_TAKEN
 * - `params` `{ handle }` → `{ v: 1, salt, kdf }` (made-up, stable values for unknown handles)
 * - `login` `{ handle, loginKey }` → `{ v: 1, handle, accountKey, sealedSecret }`
 * - `update` `{ handle, loginKey, newSalt, newKdf, newLoginKey, newSealedSecret }` →
 *   `{ v: 1, updatedAt }`
 * - `delete` `{ handle, loginKey }` → 204
 *
 * Unknown handle or wrong key: 401 LOGIN_FAILED; too many failures for a handle: 429
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

  r.post('/register', (req, res) => {
    const out = d.service.register(parseRegister(req.body));
    res.status(201).json({ v: 1, ...out });
  });

  r.post('/params', (req, res) => {
    const { handle } = parseParams(req.body);
    const p = d.service.params(handle.key);
    res.json({ v: 1, salt: encodeBase64url(p.salt), kdf: p.kdf });
  });

  r.post('/login', (req, res) => {
    const a = d.service.login(parseLogin(req.body));
    res.json({
      v: 1,
      handle: a.handle,
      accountKey: encodeBase64url(a.accountKey),
      sealedSecret: encodeBase64url(a.sealedSecret),
    });
  });

  r.post('/update', (req, res) => {
    res.json({ v: 1, ...d.service.update(parseUpdate(req.body)) });
  });

  r.post('/delete', (req, res) => {
    d.service.delete(parseLogin(req.body));
    res.status(204).end();
  });

  r.use((req) => {
    throw new NotFoundError(`${req.method} /api/account${req.path}`);
  });
  return r;
}
