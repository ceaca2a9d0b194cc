import type { RequestHandler } from 'express';
import { clientIp } from './client-ip.ts';
import type { Metrics } from './metrics.ts';

/**
 * One log line per HTTP request or websocket connect:
 * `2025-01-01T00:00:00.000Z 127.0.0.1 GET /api/mesh/<id>/peers 200 1.2ms`.
 * The query string is never logged (the PeerJS websocket URL carries the token in it), and URL
 * fragments never reach a server. Request bodies (which carry tokens) are never logged.
 */
export function logLine(
  ip: string,
  method: string,
  url: string,
  status: number,
  ms?: number,
): string {
  const time = ms === undefined ? '' : ` ${ms.toFixed(1)}ms`;
  return `${new Date().toISOString()} ${ip} ${method} ${pathOnly(url)} ${status}${time}`;
}

/** The path of a request URL without query or fragment, with control characters escaped. */
export function pathOnly(url: string): string {
  const cut = url.search(/[?#]/);
  const path = cut === -1 ? url : url.slice(0, cut);
  let out = '';
  for (const c of path) {
    const n = c.charCodeAt(0);
    out += n <= 0x20 || n === 0x7f ? `%${n.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}

export function requestLogger(
  log: (line: string) => void,
  metrics: Metrics,
  trustProxy: boolean,
): RequestHandler {
  return (req, res, next) => {
    metrics.httpRequestsTotal++;
    const start = performance.now();
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 499;
      log(
        logLine(
          clientIp(req, trustProxy),
          req.method,
          req.originalUrl,
          status,
          performance.now() - start,
        ),
      );
    });
    next();
  };
}
