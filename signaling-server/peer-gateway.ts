import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ExpressPeerServer, type IClient } from 'peer';
import { WebSocket, WebSocketServer } from 'ws';
import { clientIp } from './client-ip.ts';
import type { ResolvedOptions } from './config.ts';
import { InvalidTokenError, PeerNotConnectedError } from './errors.ts';
import { isPeerId, isToken, tokensEqual } from './ids.ts';
import type { Metrics, RejectReason } from './metrics.ts';
import { checkClientMessage } from './peer-messages.ts';
import { takeInline } from './rate-limit.ts';
import { logLine } from './request-log.ts';
import { badParamsMessage, UpgradeGate } from './upgrade-gate.ts';
import { socketClassWithHooks, type WosSocket } from './ws-guard.ts';

export const PEER_PATH = '/peerjs';
export const PEER_KEY = 'peerjs';
/** peer@1.0.2 listens on `<mount path>/peerjs`. */
export const PEER_WS_PATH = '/peerjs/peerjs';
/** Close code for a socket replaced by a newer connect with the same id and token. */
export const CLOSE_REPLACED = 4000;
export const CLOSE_GOING_AWAY = 1001;

const OPEN_TEXT = JSON.stringify({ type: 'OPEN' });

/**
 * The PeerJS side of the server: peer@1.0.2's `ExpressPeerServer` with our own websocket
 * server (`noServer`, upgrades routed here) in front of it. On top of peer's own rules it adds:
 * per-IP connect rate and socket caps, id/token format checks, a message guard, keepalive
 * pings (a pong counts as a heartbeat), a registry of connected clients for the directory's
 * token check, and takeover of a lingering socket when a client reconnects with the same id
 * and token (peer@1.0.2 would attach the new socket without sending OPEN and leave the old
 * one open).
 */
export class PeerGateway {
  readonly peerApp: ReturnType<typeof ExpressPeerServer>;
  private readonly clients = new Map<string, IClient>();
  private readonly gate: UpgradeGate;
  private readonly pinger: NodeJS.Timeout;
  private wss: WebSocketServer | undefined;
  private closing = false;

  constructor(
    server: Server,
    private readonly o: ResolvedOptions,
    private readonly metrics: Metrics,
    private readonly onPeerGone: (peerId: string) => void,
  ) {
    this.gate = new UpgradeGate(o.rateLimit, metrics, o.log);
    const WsClass = socketClassWithHooks({
      message: (sock, data, isBinary) => this.onMessage(sock, data, isBinary),
      error: (_sock, err) => this.onSocketError(err),
      pong: (sock) => this.onPong(sock),
      close: (sock) => this.onSocketClose(sock),
    });
    this.peerApp = ExpressPeerServer(server, {
      path: '/',
      key: PEER_KEY,
      alive_timeout: o.aliveTimeoutMs,
      concurrent_limit: o.maxPeers,
      allow_discovery: false,
      proxied: o.trustProxy,
      createWebSocketServer: () => {
        this.wss = new WebSocketServer({
          noServer: true,
          maxPayload: o.maxMessageBytes,
          perMessageDeflate: false,
          WebSocket: WsClass,
        });
        return this.wss;
      },
    });
    this.peerApp.on('connection', (client) => this.clients.set(client.getId(), client));
    this.peerApp.on('disconnect', (client) => {
      const id = client.getId();
      if (this.clients.get(id) !== client) return;
      this.clients.delete(id);
      this.onPeerGone(id);
    });
    // Without a listener, peer@1.0.2 re-emits socket errors here and the process crashes.
    this.peerApp.on('error', (err) => this.o.log(`peerjs error: ${String(err)}`));
    const pingEvery = Math.max(100, Math.floor(o.aliveTimeoutMs / 3));
    this.pinger = setInterval(() => this.pingAll(), pingEvery);
    this.pinger.unref();
  }

  get peerCount(): number {
    return this.clients.size;
  }

  isConnected(peerId: string): boolean {
    return this.clients.has(peerId);
  }

  /** Throws unless `peerId` is connected and registered with `token`. */
  authenticate(peerId: string, token: string): void {
    const client = this.clients.get(peerId);
    if (!client) throw new PeerNotConnectedError(peerId);
    if (!tokensEqual(client.getToken(), token)) throw new InvalidTokenError();
  }

  /** Handles an HTTP upgrade; everything but the PeerJS websocket path is refused. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const ip = clientIp(req, this.o.trustProxy);
    const url = new URL(req.url ?? '/', 'http://x');
    const ready = url.pathname === PEER_WS_PATH && this.wss !== undefined;
    if (!this.gate.admit(socket, ip, url.pathname, ready, this.closing) || !this.wss) return;
    const wss = this.wss;
    wss.handleUpgrade(req, socket, head, (ws) => {
      this.o.log(logLine(ip, 'WS', url.pathname, 101));
      this.onSocket(ws as WosSocket, req, ip, url.searchParams, wss);
    });
  }

  /** Closes every websocket with 1001 (going away); resolves when all are gone. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pinger);
    const wss = this.wss;
    if (!wss) return;
    for (const ws of wss.clients) ws.close(CLOSE_GOING_AWAY, 'server shutting down');
    const deadline = Date.now() + this.o.shutdownTimeoutMs;
    while (wss.clients.size > 0 && Date.now() < deadline) await sleep(20);
    for (const ws of wss.clients) ws.terminate();
    while (wss.clients.size > 0) await sleep(5);
    wss.close();
  }

  private onSocket(
    ws: WosSocket,
    req: IncomingMessage,
    ip: string,
    q: URLSearchParams,
    wss: WebSocketServer,
  ): void {
    ws.wosIp = ip;
    ws.wosTokens = this.o.rateLimit.wsMessages.burst;
    ws.wosTokensAt = Date.now();
    this.gate.opened(ip);
    this.metrics.wsConnectionsTotal++;
    const id = q.get('id');
    const token = q.get('token');
    const key = q.get('key');
    if (!isPeerId(id) || !isToken(token) || !key) {
      return this.refuseSocket(ws, 'ws_bad_params', badParamsMessage(id, token, key));
    }
    if (key !== PEER_KEY) return this.refuseSocket(ws, 'ws_invalid_key', 'Invalid key provided');
    ws.wosPeerId = id;
    const existing = this.clients.get(id);
    if (!existing) {
      if (this.clients.size >= this.o.maxPeers) this.metrics.reject('ws_server_full');
      wss.emit('connection', ws, req); // peer registers the client and sends OPEN
      return;
    }
    if (!tokensEqual(existing.getToken(), token)) {
      this.metrics.reject('ws_id_taken');
      wss.emit('connection', ws, req); // peer sends ID-TAKEN and closes
      return;
    }
    // Reconnect with the same id and token while peer still holds the old socket.
    const old = existing.getSocket();
    existing.setLastPing(Date.now());
    ws.send(OPEN_TEXT);
    wss.emit('connection', ws, req); // peer attaches ws to the existing client, flushes its queue
    if (old && old !== ws) {
      this.metrics.wsReconnectsTotal++;
      if (old.readyState === WebSocket.OPEN) {
        old.send(
          JSON.stringify({
            type: 'ERROR',
            payload: { msg: 'Replaced by a newer connection with this id' },
          }),
        );
        old.close(CLOSE_REPLACED, 'replaced by a newer connection');
      } else {
        old.terminate();
      }
    }
  }

  private refuseSocket(ws: WosSocket, reason: RejectReason, msg: string): void {
    this.metrics.reject(reason);
    ws.send(JSON.stringify({ type: 'ERROR', payload: { msg } }));
    ws.close(1008, reason);
  }

  private onMessage(sock: WosSocket, data: unknown, isBinary: boolean): string | null {
    // Messages that arrive while the socket is closing (e.g. a replaced socket) are ignored.
    if (sock.readyState !== WebSocket.OPEN || !sock.wosPeerId) return null;
    if (!takeInline(sock, this.o.rateLimit.wsMessages, Date.now())) {
      this.metrics.reject('ws_message_rate_limited');
      return null;
    }
    const verdict = checkClientMessage(data, isBinary);
    if (!verdict.ok) {
      this.metrics.reject(verdict.reason);
      return null;
    }
    if (verdict.kind === 'heartbeat') this.metrics.heartbeatsTotal++;
    else this.metrics.messagesTotal++;
    return verdict.text;
  }

  private onSocketError(err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    this.metrics.reject(
      code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'ws_oversized' : 'ws_protocol_error',
    );
  }

  private onPong(sock: WosSocket): void {
    const client = this.clients.get(sock.wosPeerId);
    if (client && client.getSocket() === sock) client.setLastPing(Date.now());
  }

  private onSocketClose(sock: WosSocket): void {
    this.gate.closed(sock.wosIp);
  }

  private pingAll(): void {
    this.gate.sweep();
    if (!this.wss) return;
    for (const ws of this.wss.clients) if (ws.readyState === WebSocket.OPEN) ws.ping();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
