import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RateLimitOptions } from './config.ts';
import { isPeerId } from './ids.ts';
import type { Metrics, RejectReason } from './metrics.ts';
import { RateLimiter } from './rate-limit.ts';
import { logLine } from './request-log.ts';

/**
 * Admission of websocket upgrades before any websocket exists (so refusals are cheap): the
 * path, shutdown state, the per-IP connect rate and the per-IP open-socket cap. A refusal is a
 * plain HTTP response (404, 503 or 429 with `Retry-After`) with a JSON error body.
 */
export class UpgradeGate {
  private readonly limiter: RateLimiter;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly limits: Required<RateLimitOptions>,
    private readonly metrics: Metrics,
    private readonly log: (line: string) => void,
  ) {
    this.limiter = new RateLimiter(limits.wsConnect);
  }

  /** Returns true to proceed with the upgrade; otherwise the response has been written. */
  admit(socket: Duplex, ip: string, pathname: string, pathOk: boolean, closing: boolean): boolean {
    const refuse = (status: number, reason: RejectReason, message: string, retryS?: number) => {
      this.metrics.reject(reason);
      this.log(logLine(ip, 'WS', pathname, status));
      refuseUpgrade(socket, status, reason.replace(/^ws_/, '').toUpperCase(), message, retryS);
      return false;
    };
    if (!pathOk) return refuse(404, 'ws_bad_path', `no websocket endpoint at ${pathname}`);
    if (closing) return refuse(503, 'ws_shutting_down', 'the server is shutting down');
    const wait = this.limiter.take(ip);
    if (wait > 0) {
      const s = Math.ceil(wait);
      return refuse(429, 'ws_rate_limited', `too many connects; retry after ${s} s`, s);
    }
    if ((this.perIp.get(ip) ?? 0) >= this.limits.maxSocketsPerIp) {
      return refuse(429, 'ws_too_many_sockets', 'too many open websockets from this address', 5);
    }
    return true;
  }

  opened(ip: string): void {
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
  }

  closed(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  sweep(): void {
    this.limiter.sweep();
  }
}

export function badParamsMessage(
  id: string | null,
  token: string | null,
  key: string | null,
): string {
  if (!id || !token || !key) return 'No id, token, or key supplied to websocket server';
  if (!isPeerId(id))
    return 'Invalid id: use letters, digits and single " _-" joins, at most 64 characters';
  return 'Invalid token: use 1-128 characters of A-Z a-z 0-9 _ -';
}

function refuseUpgrade(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  retryAfterS?: number,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  const extra = retryAfterS === undefined ? '' : `Retry-After: ${retryAfterS}\r\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}
