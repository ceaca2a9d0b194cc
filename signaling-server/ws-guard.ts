import { WebSocket } from 'ws';

/**
 * The websocket class the PeerJS websocket server is built with. It carries a little
 * per-connection state inline (no closures, no Map lookups per message) and routes the events
 * peer@1.0.2 listens to through `SocketHooks` first:
 *
 * - `message`: checked (rate, size, JSON, type, fields) before peer@1.0.2 sees it. Rejected
 *   messages are dropped, so peer's own `JSON.parse` never throws (in peer@1.0.2 that error is
 *   re-emitted as an `error` event which, without a listener, crashes the process).
 * - `error`: counted (oversized frames surface here; `ws` then closes with 1009).
 * - `pong`: answers to our keepalive pings count as liveness, like PeerJS HEARTBEATs.
 * - `close`: per-IP socket accounting.
 */
export class WosSocket extends WebSocket {
  /** Peer id from the connect URL, once validated ('' before). */
  wosPeerId = '';
  wosIp = '';
  /** Inline token bucket for messages (see `takeInline`). */
  wosTokens = 0;
  wosTokensAt = 0;
}

export interface SocketHooks {
  /** Returns the text to hand to peer@1.0.2, or null to drop the message. */
  message(sock: WosSocket, data: unknown, isBinary: boolean): string | null;
  error(sock: WosSocket, err: unknown): void;
  pong(sock: WosSocket): void;
  close(sock: WosSocket): void;
}

export function socketClassWithHooks(hooks: SocketHooks): typeof WosSocket {
  return class GuardedSocket extends WosSocket {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      switch (event) {
        case 'message': {
          const text = hooks.message(this, args[0], args[1] === true);
          return text === null ? false : super.emit('message', text, false);
        }
        case 'error':
          hooks.error(this, args[0]);
          break;
        case 'pong':
          hooks.pong(this);
          break;
        case 'close':
          hooks.close(this);
          break;
      }
      return super.emit(event, ...args);
    }
  };
}
