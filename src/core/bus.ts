import * as v from 'valibot';
import type { Clock } from './clock.ts';
import { Deadlines } from './deadlines.ts';
import {
  AbortError,
  ArgumentError,
  ClosedError,
  InvalidMessageError,
  RemoteError,
  TimeoutError,
  UnreachableError,
  WosError,
} from './errors.ts';
import type { Link } from './link.ts';
import { describeIssues, type Envelope, type Packet } from './wire.ts';

/**
 * The message bus: typed, schema-validated messages between nodes; one-way sends, broadcasts
 * to neighbours, and request/response with timeouts and AbortSignal. Direct when a link to the
 * target exists, otherwise relayed along the next hop learned from membership gossip.
 * Every message addressed to this node is handled at most once (dedup by message id).
 */
export interface Incoming<T> {
  body: T;
  from: string;
  bin: Uint8Array | undefined;
  /** The neighbour it arrived from (differs from `from` when relayed). */
  via: string;
}

/** A handler result that carries a binary attachment. */
/** How long after a link is added relayed messages from its peer are still taken. */
const LINK_SETTLE_MS = 3000;

export class WithAttachment {
  constructor(
    readonly body: unknown,
    readonly bin: Uint8Array,
  ) {}
}

export interface Response {
  body: unknown;
  bin: Uint8Array | undefined;
  from: string;
}

export interface RequestOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  bin?: Uint8Array;
  /**
   * Called at once with a function that ends the request, rejected with the error given: a
   * lighter way than `signal` for code that sends many requests (no AbortController and
   * event listener per request).
   */
  cancel?: (end: (reason: Error) => void) => void;
}

type Handler = (msg: Incoming<unknown>) => unknown;

/**
 * A hand-written check of a handler's body schema for hot message types: true only for bodies
 * the schema accepts as they are (else the schema decides, and explains a rejection).
 */
export type BodyCheck = (body: unknown) => boolean;

interface Pending {
  /** The node asked: only its reply settles the request. */
  to: string;
  resolve(r: Response): void;
  reject(e: Error): void;
  /** Its time is up. */
  expire(): void;
}

export interface BusStats {
  sent: number;
  received: number;
  relayed: number;
  duplicates: number;
  rejected: Record<string, number>;
}

const SEEN_LIMIT = 20_000;
const MAX_TTL = 4;

export class Bus {
  readonly nodeId: string;
  readonly #links = new Map<string, Link>();
  /** When each link was added: a link settling in may still see relayed traffic (below). */
  readonly #linkedAt = new Map<string, number>();
  readonly #clock: Clock;
  readonly #routes = new Map<string, string>();
  readonly #handlers = new Map<
    string,
    { schema: v.GenericSchema; fn: Handler; check: BodyCheck | undefined }
  >();
  readonly #pending = new Map<string, Pending>();
  readonly #deadlines: Deadlines<Pending>;
  /** Ids handled recently, in two generations: O(1) per message, no eviction walk. */
  #seen = new Set<string>();
  #seenBefore = new Set<string>();
  #seq = 0;
  #closed = false;
  readonly stats: BusStats = { sent: 0, received: 0, relayed: 0, duplicates: 0, rejected: {} };
  defaultTimeoutMs: number;
  /** Called for every rejected message, with the neighbour it came from. */
  onReject: ((from: string, reason: string, detail: string) => void) | undefined;

  constructor(nodeId: string, clock: Clock, defaultTimeoutMs = 5000) {
    this.nodeId = nodeId;
    this.#clock = clock;
    this.defaultTimeoutMs = defaultTimeoutMs;
    this.#deadlines = new Deadlines(clock, (p) => p.expire());
  }

  /**
   * Registers the handler for `type`; bodies failing `schema` are rejected before it runs.
   * `check` (optional, for hot types) is a faster test that must agree with `schema`.
   */
  handle<S extends v.GenericSchema>(
    type: string,
    schema: S,
    fn: (msg: Incoming<v.InferOutput<S>>) => unknown,
    check?: BodyCheck,
  ): void {
    if (this.#handlers.has(type)) throw new ArgumentError(`a handler for '${type}' exists`);
    this.#handlers.set(type, { schema, fn: fn as Handler, check });
  }

  addLink(link: Link): void {
    const id = link.peer.nodeId;
    this.#links.set(id, link);
    this.#linkedAt.set(id, this.#clock.now());
    link.onPacket = (p) => this.#receive(p, id);
    link.onReject = (reason, detail) => this.#reject(id, reason, detail);
  }

  removeLink(nodeId: string, link?: Link): void {
    if (link && this.#links.get(nodeId) !== link) return;
    this.#links.delete(nodeId);
    this.#linkedAt.delete(nodeId);
  }

  /**
   * A second link to a neighbour that lost the tie-break (both sides dialed at once): nothing
   * more is sent on it, but what the neighbour sent on it before it switched is still
   * delivered (closing it at once lost those requests, and their callers waited for their
   * timeouts). The caller closes it once that can no longer arrive.
   */
  retireLink(link: Link): void {
    const id = link.peer.nodeId;
    this.removeLink(id, link);
    link.onPacket = (p) => this.#receive(p, id);
    link.onReject = (reason, detail) => this.#reject(id, reason, detail);
  }

  link(nodeId: string): Link | undefined {
    return this.#links.get(nodeId);
  }

  neighbours(): string[] {
    return [...this.#links.keys()];
  }

  /** Membership tells the bus which neighbour leads to a node it has no link to. */
  setRoute(target: string, via: string | undefined): void {
    if (via === undefined) this.#routes.delete(target);
    else this.#routes.set(target, via);
  }

  reachable(target: string): boolean {
    return this.#next(target) !== undefined;
  }

  async send(to: string, type: string, body: unknown, bin?: Uint8Array): Promise<void> {
    await this.#dispatch({ env: this.#env(to, type, body), bin });
  }

  /** Sends to every neighbour; failures on one link do not affect the others. */
  async broadcast(type: string, body: unknown, bin?: Uint8Array): Promise<void> {
    const env = this.#env('*', type, body);
    const sends = [...this.#links.values()].map((link) => {
      this.stats.sent++;
      return link.send({ env, bin });
    });
    await Promise.allSettled(sends);
  }

  request(to: string, type: string, body: unknown, opts: RequestOptions = {}): Promise<Response> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const what = `request '${type}' to ${to}`;
    if (opts.signal?.aborted) return Promise.reject(new AbortError(what, opts.signal.reason));
    const env = this.#env(to, type, body);
    env.q = 1;
    return new Promise<Response>((resolve, reject) => {
      let open = true;
      const cleanup = (): void => {
        open = false;
        this.#pending.delete(env.id);
        this.#deadlines.delete(pending);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(new AbortError(what, opts.signal?.reason));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const pending: Pending = {
        to: env.to,
        resolve: (r) => {
          cleanup();
          resolve(r);
        },
        reject: (e) => {
          if (!open) return;
          cleanup();
          reject(e);
        },
        expire: () => {
          cleanup();
          reject(new TimeoutError(what, timeoutMs));
        },
      };
      this.#pending.set(env.id, pending);
      this.#deadlines.add(pending, timeoutMs);
      opts.cancel?.(pending.reject);
      this.#dispatch({ env, bin: opts.bin }).catch((e: unknown) => {
        this.#pending.get(env.id)?.reject(e as Error);
      });
    });
  }

  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.reject(new ClosedError('the message bus'));
    this.#pending.clear();
    this.#deadlines.clear();
  }

  #env(to: string, t: string, b: unknown, re?: string): Envelope {
    const env: Envelope = {
      id: `${this.nodeId}/${++this.#seq}`,
      t,
      f: this.nodeId,
      to,
      ttl: MAX_TTL,
    };
    if (b !== undefined) env.b = b;
    if (re !== undefined) env.re = re;
    return env;
  }

  #next(target: string): Link | undefined {
    const direct = this.#links.get(target);
    if (direct) return direct;
    const via = this.#routes.get(target);
    return via === undefined ? undefined : this.#links.get(via);
  }

  async #dispatch(p: Packet): Promise<void> {
    if (this.#closed) throw new ClosedError('the message bus');
    if (p.env.to === this.nodeId) {
      // Local delivery keeps one code path for "run here" and "run there".
      queueMicrotask(() => this.#receive(p, this.nodeId));
      return;
    }
    const link = this.#next(p.env.to);
    if (!link) throw new UnreachableError(p.env.to);
    this.stats.sent++;
    await link.send(p);
  }

  #settled(nodeId: string): boolean {
    const at = this.#linkedAt.get(nodeId);
    return at !== undefined && this.#clock.now() - at >= LINK_SETTLE_MS;
  }

  #reject(from: string, reason: string, detail: string): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
    this.onReject?.(from, reason, detail);
  }

  #receive(p: Packet, via: string): void {
    const { env } = p;
    if (via !== this.nodeId && env.to !== '*' && env.to !== this.nodeId) {
      // Not for us: relay if hops remain.
      const link = env.ttl > 0 ? this.#next(env.to) : undefined;
      if (!link || link.peer.nodeId === via) return this.#reject(via, 'unroutable', env.to);
      this.stats.relayed++;
      link.send({ env: { ...env, ttl: env.ttl - 1 }, bin: p.bin }).catch(() => {});
      return;
    }
    if (via !== this.nodeId && env.to === '*' && env.f !== via) {
      return this.#reject(via, 'spoofed', `broadcast from ${via} claims to be from ${env.f}`);
    }
    // From a node this one has a link to, a message comes over that link, not relayed: a
    // relay cannot speak for it. Not in a link's first seconds: the two ends add it at
    // different moments, and the other end may still relay what it sends meanwhile.
    if (via !== this.nodeId && env.f !== via && this.#settled(env.f)) {
      return this.#reject(via, 'spoofed', `a message from ${via} claims to be from ${env.f}`);
    }
    // A message id is its sender's (`<node>/<seq>`): another node cannot use one to make this
    // node drop the real message as a duplicate.
    if (!env.id.startsWith(`${env.f}/`)) {
      return this.#reject(via, 'spoofed', `message id ${env.id} is not one of ${env.f}'s`);
    }
    if (this.#seen.has(env.id) || this.#seenBefore.has(env.id)) {
      this.stats.duplicates++;
      return;
    }
    this.#seen.add(env.id);
    if (this.#seen.size >= SEEN_LIMIT) {
      // The last SEEN_LIMIT ids at least are always remembered.
      this.#seenBefore = this.#seen;
      this.#seen = new Set();
    }
    this.stats.received++;
    if (env.re !== undefined) {
      const pending = this.#pending.get(env.re);
      if (!pending) return;
      if (env.f !== pending.to) {
        return this.#reject(
          via,
          'spoofed',
          `a reply to ${env.re} from ${env.f}, not the node asked`,
        );
      }
      if (env.err) pending.reject(new RemoteError(env.err.code, `${env.f}: ${env.err.message}`));
      else pending.resolve({ body: env.b, bin: p.bin, from: env.f });
      return;
    }
    const h = this.#handlers.get(env.t);
    if (!h) {
      this.#reject(via, 'unknown-type', env.t);
      return this.#replyError(env, new InvalidMessageError(`unknown message type '${env.t}'`));
    }
    let body: unknown = env.b;
    if (!h.check?.(body)) {
      const r = v.safeParse(h.schema, body);
      if (!r.success) {
        const err = new InvalidMessageError(`'${env.t}' body: ${describeIssues(r.issues)}`);
        this.#reject(via, 'invalid', err.message);
        return this.#replyError(env, err);
      }
      body = r.output;
    }
    let result: unknown;
    try {
      result = h.fn({ body, from: env.f, bin: p.bin, via });
    } catch (e) {
      return this.#replyError(env, e);
    }
    Promise.resolve(result).then(
      (out) => {
        if (env.q !== 1) return;
        const reply = this.#env(
          env.f,
          env.t,
          out instanceof WithAttachment ? out.body : out,
          env.id,
        );
        const bin = out instanceof WithAttachment ? out.bin : undefined;
        this.#dispatch({ env: reply, bin }).catch(() => {});
      },
      (e: unknown) => this.#replyError(env, e),
    );
  }

  #replyError(env: Envelope, e: unknown): void {
    if (env.q !== 1) return;
    const reply = this.#env(env.f, env.t, undefined, env.id);
    reply.err =
      e instanceof WosError
        ? { code: e.code, message: e.message.slice(0, 2000) }
        : {
            code: 'HANDLER_FAILED',
            message: String(e instanceof Error ? e.message : e).slice(0, 2000),
          };
    this.#dispatch({ env: reply }).catch(() => {});
  }
}
