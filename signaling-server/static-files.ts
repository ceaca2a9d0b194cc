import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Request, type Router } from 'express';
import { AppNotBuiltError } from './errors.ts';

/**
 * Serves the built app from `dir` with cache headers suited to a Vite + Workbox build:
 *
 * - `/assets/*` (content-hashed by Vite): `public, max-age=31536000, immutable`
 * - everything else (index.html, sw.js, workbox-*.js, manifest, icons): `no-cache`, i.e. always
 *   revalidated with the ETag, so a deploy is seen on the next load and the service worker
 *   update check never reads a stale sw.js.
 *
 * SPA fallback: a GET/HEAD that matches no file gets index.html, unless it is under `/assets/`
 * or names a file (has an extension) without asking for HTML; those get a 404, so a missing
 * script never comes back as HTML.
 */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const NO_CACHE = 'no-cache';

export function staticFiles(dir: string, reservedPrefixes: readonly string[]): Router {
  const r = express.Router();
  r.use(
    express.static(dir, {
      index: false,
      redirect: false,
      cacheControl: false,
      dotfiles: 'ignore',
      setHeaders(res, file) {
        const rel = path.relative(dir, file).split(path.sep).join('/');
        res.setHeader('Cache-Control', rel.startsWith('assets/') ? IMMUTABLE : NO_CACHE);
      },
    }),
  );
  r.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    if (reservedPrefixes.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    if (req.path.startsWith('/assets/')) return next();
    if (looksLikeFile(req.path) && !wantsHtml(req)) return next();
    const index = path.join(dir, 'index.html');
    if (!existsSync(index)) throw new AppNotBuiltError(dir);
    res.setHeader('Cache-Control', NO_CACHE);
    res.sendFile(index, { cacheControl: false }, (err) => {
      if (err && !res.headersSent) next(err);
    });
  });
  return r;
}

function looksLikeFile(p: string): boolean {
  const last = p.slice(p.lastIndexOf('/') + 1);
  return /\.[A-Za-z0-9]{1,8}$/.test(last);
}

function wantsHtml(req: Request): boolean {
  return (req.headers.accept ?? '').includes('text/html');
}
