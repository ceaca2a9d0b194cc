import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import {
  openAccounts,
  type AccountMetricsSnapshot,
  type AccountOptions,
} from './accounts/accounts.ts';
import { resolveOptions, type WosServerOptions as BaseOptions } from './config.ts';
import { MeshDirectory } from './directory.ts';
import { NotFoundError, ServerError, ShuttingDownError } from './errors.ts';
import { meshApi } from './mesh-api.ts';
import { Metrics, REJECT_REASONS, type MetricsSnapshot, type RejectReason } from './metrics.ts';
import { PEER_KEY, PEER_PATH, PeerGateway } from './peer-gateway.ts';
import { RateLimiter } from './rate-limit.ts';
import { requestLogger } from './request-log.ts';
import { staticFiles } from './static-files.ts';

export type { MetricsSnapshot } from './metrics.ts';
export type { AccountOptions, AccountMetricsSnapshot } from './accounts/accounts.ts';

export interface WosServerOptions extends BaseOptions {
  /** Passphrase sign-in (`/api/account`): database file (`accounts.db`), limits. */
  accounts?: AccountOptions;
}

export interface WosServer {
  /** `http://<host>:<port>/` (`localhost` when bound to a wildcard address). */
  url: string;
  port: number;
  /** The account database file (absolute), or `:memory:`. */
  accountDb: string;
  /** Stops accepting, closes websockets with 1001 (going away), resolves when all is closed. */
  close(): Promise<void>;
  metrics(): MetricsSnapshot & { accounts: AccountMetricsSnapshot };
}

/**
 * The WOS signaling server: one HTTP server on one port with the PeerJS server at `/peerjs`,
 * the mesh directory at `/api/mesh`, `/config`, `/healthz`, `/metrics` and the built app.
 */
export async function createWosServer(options: WosServerOptions = {}): Promise<WosServer> {
  const o = resolveOptions(options);
  const accounts = await openAccounts(options.accounts, {
    maxBodyBytes: o.maxBodyBytes,
    trustProxy: o.trustProxy,
  });
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', o.trustProxy);
  const server = http.createServer(app);
  server.keepAliveTimeout = 5000;
  server.requestTimeout = 30_000;
  server.headersTimeout = 15_000;

  const directory = new MeshDirectory(o);
  const metrics: Metrics = new Metrics({
    peers: (): number => gateway.peerCount,
    meshes: () => directory.meshCount,
    memberships: () => directory.memberships,
  });
  const gateway: PeerGateway = new PeerGateway(server, o, metrics, (id) => directory.dropPeer(id));
  const apiLimiter = new RateLimiter(o.rateLimit.api);
  let closing = false;

  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  app.use(requestLogger(o.log, metrics, o.trustProxy));

  app.get('/healthz', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (closing) throw new ShuttingDownError();
    res.json({
      ok: true,
      uptimeS: metrics.uptimeS(),
      peers: gateway.peerCount,
      meshes: directory.meshCount,
    });
  });
  app.get('/metrics', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end(metrics.render() + accounts.metrics.render());
  });
  app.get('/config', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ v: 1, iceServers: o.iceServers, peerPath: PEER_PATH, peerKey: PEER_KEY });
  });
  app.use('/api/account', accounts.router);
  app.use(
    '/api',
    meshApi({
      directory,
      gateway,
      limiter: apiLimiter,
      maxBodyBytes: o.maxBodyBytes,
      trustProxy: o.trustProxy,
    }),
  );
  app.use(PEER_PATH, gateway.peerApp);
  app.use(staticFiles(o.staticDir, ['/api', PEER_PATH, '/config', '/healthz', '/metrics']));
  app.use((req) => {
    throw new NotFoundError(req.path);
  });
  app.use(errorHandler(metrics, o.log));

  server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  const sweeper = setInterval(() => {
    apiLimiter.sweep();
    accounts.sweep();
  }, 10_000);
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    accounts.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${urlHost(o.host)}:${port}/`,
    port,
    accountDb: accounts.file,
    metrics: () => ({ ...metrics.snapshot(), accounts: accounts.metrics.snapshot() }),
    close() {
      closed ??= (async () => {
        closing = true;
        clearInterval(sweeper);
        const serverClosed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await gateway.close();
        const force = setTimeout(() => server.closeAllConnections(), o.shutdownTimeoutMs);
        await serverClosed;
        clearTimeout(force);
        accounts.close();
      })();
      return closed;
    },
  };
}

function errorHandler(metrics: Metrics, log: (line: string) => void): ErrorRequestHandler {
  // Express recognises error handlers by their four parameters.

  return (err: unknown, _req, res, _next) => {
    let e: ServerError;
    if (err instanceof ServerError) e = err;
    else {
      log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      e = new ServerError('INTERNAL', 500, 'internal server error');
    }
    const reason = e.code.toLowerCase();
    if ((REJECT_REASONS as readonly string[]).includes(reason))
      metrics.reject(reason as RejectReason);
    if (res.headersSent) return void res.end();
    if ('retryAfterS' in e && typeof e.retryAfterS === 'number')
      res.setHeader('Retry-After', String(e.retryAfterS));
    res.status(e.status).json(e.toJSON());
  };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
