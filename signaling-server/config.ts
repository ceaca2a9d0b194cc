import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v from 'valibot';
import { ConfigError } from './errors.ts';
import { describeIssues } from './ids.ts';
import type { RateSpec } from './rate-limit.ts';

/** An `RTCIceServer` as sent to browsers in `GET /config`. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface RateLimitOptions {
  /** Per-IP bucket for every `/api/*` request. Default 20/s, burst 60. */
  api?: RateSpec;
  /** Per-IP bucket for PeerJS websocket connects. Default 10/s, burst 50. */
  wsConnect?: RateSpec;
  /** Per-socket bucket for PeerJS websocket messages. Default 100/s, burst 500. */
  wsMessages?: RateSpec;
  /** Open PeerJS websockets per IP. Default 256. */
  maxSocketsPerIp?: number;
}

export interface WosServerOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Bind address. Default `127.0.0.1` (the CLI passes `0.0.0.0`). */
  host?: string;
  /** Built app to serve. Default `dist/` at the repo root. */
  staticDir?: string;
  /** ICE servers for `GET /config`. Default: env `WOS_ICE_SERVERS` (JSON) or `[]`. */
  iceServers?: IceServer[];
  /** Drop a PeerJS client this long after its last heartbeat/pong. Default 15000 ms. */
  aliveTimeoutMs?: number;
  rateLimit?: RateLimitOptions;
  /** Largest JSON body on `/api`. Default 4096 bytes (413 beyond). */
  maxBodyBytes?: number;
  /** Largest PeerJS websocket message. Default 65536 bytes (socket closed with 1009 beyond). */
  maxMessageBytes?: number;
  /** Concurrent PeerJS clients (peer's `concurrent_limit`). Default 10000. */
  maxPeers?: number;
  /** Members per mesh. Default 1024. */
  maxPeersPerMesh?: number;
  /** Meshes one peer may be a member of. Default 16. */
  maxMeshesPerPeer?: number;
  /** Take the client IP from `X-Forwarded-For` (only behind a proxy that sets it). Default false. */
  trustProxy?: boolean;
  /** How long `close()` waits for websockets to finish their close handshake. Default 3000 ms. */
  shutdownTimeoutMs?: number;
  /** One line per request/connection; default: silent. Never receives tokens. */
  log?: (line: string) => void;
}

export interface ResolvedOptions {
  port: number;
  host: string;
  staticDir: string;
  iceServers: IceServer[];
  aliveTimeoutMs: number;
  rateLimit: Required<RateLimitOptions>;
  maxBodyBytes: number;
  maxMessageBytes: number;
  maxPeers: number;
  maxPeersPerMesh: number;
  maxMeshesPerPeer: number;
  trustProxy: boolean;
  shutdownTimeoutMs: number;
  log: (line: string) => void;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  staticDir: path.join(REPO_ROOT, 'dist'),
  aliveTimeoutMs: 15_000,
  rateLimit: {
    api: { ratePerSec: 20, burst: 60 },
    wsConnect: { ratePerSec: 10, burst: 50 },
    wsMessages: { ratePerSec: 100, burst: 500 },
    maxSocketsPerIp: 256,
  },
  maxBodyBytes: 4096,
  maxMessageBytes: 65_536,
  maxPeers: 10_000,
  maxPeersPerMesh: 1024,
  maxMeshesPerPeer: 16,
  shutdownTimeoutMs: 3000,
} as const;

const IceServersSchema = v.array(
  v.object({
    urls: v.union([
      v.pipe(
        v.string(),
        v.regex(/^(stun|stuns|turn|turns):/, 'ICE url must start with stun: or turn:'),
      ),
      v.pipe(
        v.array(
          v.pipe(
            v.string(),
            v.regex(/^(stun|stuns|turn|turns):/, 'ICE url must start with stun: or turn:'),
          ),
        ),
        v.minLength(1),
      ),
    ]),
    username: v.optional(v.string()),
    credential: v.optional(v.string()),
  }),
);

export function parseIceServers(value: unknown, source: string): IceServer[] {
  const r = v.safeParse(IceServersSchema, value);
  if (!r.success)
    throw new ConfigError(`${source}: invalid ICE servers: ${describeIssues(r.issues)}`);
  return r.output;
}

export function iceServersFromEnv(env: NodeJS.ProcessEnv): IceServer[] {
  const raw = env.WOS_ICE_SERVERS;
  if (raw === undefined || raw.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError('WOS_ICE_SERVERS is not valid JSON (expected an RTCIceServer[] array)');
  }
  return parseIceServers(json, 'WOS_ICE_SERVERS');
}

function positive(name: string, value: number, min = 1): number {
  if (!Number.isFinite(value) || value < min)
    throw new ConfigError(`${name} must be a number >= ${min}, got ${value}`);
  return value;
}

function rate(name: string, spec: RateSpec): RateSpec {
  return {
    ratePerSec: positive(`${name}.ratePerSec`, spec.ratePerSec, Number.MIN_VALUE),
    burst: positive(`${name}.burst`, spec.burst),
  };
}

export function resolveOptions(
  o: WosServerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedOptions {
  const rl = o.rateLimit ?? {};
  const port = o.port ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`port must be 0-65535, got ${port}`);
  return {
    port,
    host: o.host ?? DEFAULTS.host,
    staticDir: path.resolve(o.staticDir ?? DEFAULTS.staticDir),
    iceServers: o.iceServers
      ? parseIceServers(o.iceServers, 'iceServers option')
      : iceServersFromEnv(env),
    aliveTimeoutMs: positive('aliveTimeoutMs', o.aliveTimeoutMs ?? DEFAULTS.aliveTimeoutMs, 100),
    rateLimit: {
      api: rate('rateLimit.api', rl.api ?? DEFAULTS.rateLimit.api),
      wsConnect: rate('rateLimit.wsConnect', rl.wsConnect ?? DEFAULTS.rateLimit.wsConnect),
      wsMessages: rate('rateLimit.wsMessages', rl.wsMessages ?? DEFAULTS.rateLimit.wsMessages),
      maxSocketsPerIp: positive(
        'rateLimit.maxSocketsPerIp',
        rl.maxSocketsPerIp ?? DEFAULTS.rateLimit.maxSocketsPerIp,
      ),
    },
    maxBodyBytes: positive('maxBodyBytes', o.maxBodyBytes ?? DEFAULTS.maxBodyBytes, 64),
    maxMessageBytes: positive(
      'maxMessageBytes',
      o.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      1024,
    ),
    maxPeers: positive('maxPeers', o.maxPeers ?? DEFAULTS.maxPeers),
    maxPeersPerMesh: positive('maxPeersPerMesh', o.maxPeersPerMesh ?? DEFAULTS.maxPeersPerMesh),
    maxMeshesPerPeer: positive('maxMeshesPerPeer', o.maxMeshesPerPeer ?? DEFAULTS.maxMeshesPerPeer),
    trustProxy: o.trustProxy ?? false,
    shutdownTimeoutMs: positive(
      'shutdownTimeoutMs',
      o.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs,
      0,
    ),
    log: o.log ?? (() => {}),
  };
}
