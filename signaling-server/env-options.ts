import { ConfigError } from './errors.ts';
import { DEFAULTS, type RateLimitOptions, type WosServerOptions } from './config.ts';
import type { RateSpec } from './rate-limit.ts';

/**
 * Server options from environment variables (used by the CLI; flags override them):
 * `WOS_STATIC_DIR`, `WOS_ALIVE_TIMEOUT_MS`, `WOS_API_RATE`/`WOS_API_BURST`,
 * `WOS_WS_RATE`/`WOS_WS_BURST` (connects per IP), `WOS_WS_MSG_RATE`/`WOS_WS_MSG_BURST` (per
 * socket), `WOS_WS_MAX_PER_IP`, `WOS_MAX_PEERS`, `WOS_MAX_BODY_BYTES`, `WOS_MAX_MESSAGE_BYTES`,
 * `WOS_TRUST_PROXY=1`. (`WOS_ICE_SERVERS` is read by `resolveOptions` itself.)
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv): WosServerOptions {
  const num = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n))
      throw new ConfigError(`${name} must be a number, got ${JSON.stringify(raw)}`);
    return n;
  };
  const spec = (rateName: string, burstName: string, d: RateSpec): RateSpec | undefined => {
    const r = num(rateName);
    const b = num(burstName);
    return r === undefined && b === undefined
      ? undefined
      : { ratePerSec: r ?? d.ratePerSec, burst: b ?? d.burst };
  };
  const o: WosServerOptions = {};
  if (env.WOS_STATIC_DIR) o.staticDir = env.WOS_STATIC_DIR;
  const alive = num('WOS_ALIVE_TIMEOUT_MS');
  if (alive !== undefined) o.aliveTimeoutMs = alive;
  const rl: RateLimitOptions = {};
  const api = spec('WOS_API_RATE', 'WOS_API_BURST', DEFAULTS.rateLimit.api);
  if (api) rl.api = api;
  const ws = spec('WOS_WS_RATE', 'WOS_WS_BURST', DEFAULTS.rateLimit.wsConnect);
  if (ws) rl.wsConnect = ws;
  const msg = spec('WOS_WS_MSG_RATE', 'WOS_WS_MSG_BURST', DEFAULTS.rateLimit.wsMessages);
  if (msg) rl.wsMessages = msg;
  const perIp = num('WOS_WS_MAX_PER_IP');
  if (perIp !== undefined) rl.maxSocketsPerIp = perIp;
  o.rateLimit = rl;
  const maxPeers = num('WOS_MAX_PEERS');
  if (maxPeers !== undefined) o.maxPeers = maxPeers;
  const body = num('WOS_MAX_BODY_BYTES');
  if (body !== undefined) o.maxBodyBytes = body;
  const msgBytes = num('WOS_MAX_MESSAGE_BYTES');
  if (msgBytes !== undefined) o.maxMessageBytes = msgBytes;
  if (env.WOS_TRUST_PROXY === '1' || env.WOS_TRUST_PROXY === 'true') o.trustProxy = true;
  return o;
}
