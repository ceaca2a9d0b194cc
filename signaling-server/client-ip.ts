import type { IncomingMessage } from 'node:http';

/**
 * The client's IP for rate limiting and logs: the socket's remote address, or with
 * `trustProxy` the left-most `X-Forwarded-For` entry (enable that only behind a reverse proxy
 * that overwrites the header, or clients can pick their own rate-limit bucket).
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return normalizeIp(first);
  }
  return normalizeIp(req.socket.remoteAddress ?? 'unknown');
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
