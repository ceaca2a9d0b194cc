import type { RequestHandler } from 'express';
import { BadRequestError, MalformedJsonError, PayloadTooLargeError } from '../errors.ts';

/**
 * A JSON body parser for requests that carry key material: like `express.json` (object or array
 * at the top, `limit` bytes at most, 413 beyond) but the raw bytes are zeroed as soon as they are
 * parsed, so no copy of a login key lingers in socket buffers. (The parsed strings themselves
 * cannot be wiped in JavaScript; they become garbage when the request ends.)
 */
export function sensitiveJsonBody(limit: number): RequestHandler {
  return (req, _res, next) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      return next(new PayloadTooLargeError(limit));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error, body?: unknown): void => {
      if (done) return;
      done = true;
      for (const c of chunks) c.fill(0);
      chunks.length = 0;
      req.off('data', onData);
      if (err) {
        req.resume();
        next(err);
      } else {
        req.body = body;
        next();
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      chunks.push(chunk);
      if (size > limit) finish(new PayloadTooLargeError(limit));
    };
    req.on('data', onData);
    req.once('error', (err) =>
      finish(new BadRequestError(`unreadable request body: ${err.message}`)),
    );
    req.once('end', () => {
      if (done) return;
      const raw = Buffer.concat(chunks);
      let body: unknown;
      let bad = false;
      try {
        body = JSON.parse(raw.toString('utf8'));
        if (typeof body !== 'object' || body === null) bad = true;
      } catch {
        bad = true;
      } finally {
        raw.fill(0);
      }
      finish(bad ? new MalformedJsonError() : undefined, body);
    });
  };
}
