import { AbortError, ClosedError, TimeoutError } from '../errors.ts';
import { Emitter } from '../emitter.ts';
import type { Job, JobResult } from './dispatcher.ts';
import type { Kernel } from './kernel.ts';
import type { ResourceKind, Slot } from './scheduler.ts';

/**
 * A lease on compute resources, with the seed's programming model:
 * - `activate()` starts or wakes the resource (takes slots again after `rest`),
 * - `rest()` pauses it (gives the slots back, keeps the handle),
 * - `command(kernel, input)` sends it an operation; the promise is the `response`,
 * - `on(event, fn)` subscribes to its events and `emit` raises custom ones,
 * - `wait(event, predicate)` waits for a condition or event.
 * `run` is `command`; `release()` ends the lease.
 */
export interface Response {
  value: unknown;
  node: string;
  ms: number;
}

export interface LeaseEvents {
  state: LeaseState;
  response: Response;
  slots: Slot[];
  [custom: string]: unknown;
}

export type LeaseState = 'active' | 'resting' | 'released';

export interface GrantedLease {
  id: string;
  slots: Slot[];
  ttlMs: number;
}

/** What a lease needs from the compute client (kept narrow so the two stay decoupled). */
export interface LeaseBackend {
  lease(kind: ResourceKind, n: number): Promise<GrantedLease>;
  release(id: string): Promise<void>;
  renew(id: string): Promise<boolean>;
  runJobs(
    kernel: Kernel,
    jobs: Job[],
    slots: Slot[],
    kind: ResourceKind,
    o: { timeoutMs?: number; signal?: AbortSignal; batch?: number },
  ): Promise<Map<number, JobResult>>;
}

export class LeaseHandle extends Emitter<LeaseEvents> {
  readonly kind: ResourceKind;
  readonly n: number;
  #client: LeaseBackend;
  #grant: GrantedLease | undefined;
  #state: LeaseState = 'active';
  #activating: Promise<void> | undefined;
  #renew: ReturnType<typeof setInterval> | undefined;

  constructor(client: LeaseBackend, kind: ResourceKind, n: number, grant: GrantedLease) {
    super();
    this.#client = client;
    this.kind = kind;
    this.n = n;
    this.#grant = grant;
    this.#keepAlive();
  }

  get state(): LeaseState {
    return this.#state;
  }

  /** Where the lease's workers are: node ids with worker counts. */
  get slots(): Slot[] {
    return this.#grant?.slots ?? [];
  }

  get nodes(): string[] {
    return this.slots.map((s) => s.node);
  }

  /** Wakes a resting lease (a new grant); calls while one is on its way share it. */
  activate(): Promise<void> {
    if (this.#state === 'released') return Promise.reject(new ClosedError('this lease'));
    if (this.#state === 'active' && this.#grant) return Promise.resolve();
    this.#activating ??= this.#activate().finally(() => (this.#activating = undefined));
    return this.#activating;
  }

  async #activate(): Promise<void> {
    const grant = await this.#client.lease(this.kind, this.n);
    if (this.#state === 'released') {
      // Released while the grant was on its way: give it back at once.
      await this.#client.release(grant.id).catch(() => {});
      throw new ClosedError('this lease');
    }
    this.#grant = grant;
    this.#keepAlive();
    this.#setState('active');
    this.emit('slots', this.slots);
  }

  async rest(): Promise<void> {
    if (this.#state !== 'active') return;
    clearInterval(this.#renew);
    const g = this.#grant;
    this.#grant = undefined;
    if (g) await this.#client.release(g.id);
    this.#setState('resting');
  }

  async release(): Promise<void> {
    await this.rest();
    this.#setState('released');
  }

  /** Runs `kernel` on `input` on this lease's best node; re-runs elsewhere if that node is lost. */
  async command(
    kernel: Kernel,
    input: unknown,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    if (this.#state === 'released') throw new ClosedError('this lease');
    if (this.#state === 'resting') await this.activate();
    const job = { index: 0, input, excludeDevices: new Set<string>(), attempts: 0 };
    const res = await this.#client.runJobs(kernel, [job], this.slots, this.kind, {
      timeoutMs: o.timeoutMs ?? 30_000,
      ...(o.signal ? { signal: o.signal } : {}),
      batch: 1,
    });
    const r = res.get(0)!;
    const response = { value: r.value, node: r.node, ms: r.ms };
    this.emit('response', response);
    return response;
  }

  run(
    kernel: Kernel,
    input: unknown,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Response> {
    return this.command(kernel, input, o);
  }

  /** Resolves with the next `event` whose value passes `predicate`. */
  wait<K extends keyof LeaseEvents & string>(
    event: K,
    predicate: (value: LeaseEvents[K]) => boolean = () => true,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<LeaseEvents[K]> {
    return new Promise((resolve, reject) => {
      const timer =
        o.timeoutMs !== undefined
          ? setTimeout(
              () => finish(new TimeoutError(`wait('${event}')`, o.timeoutMs!)),
              o.timeoutMs,
            )
          : undefined;
      const onAbort = (): void => finish(new AbortError(`wait('${event}')`, o.signal?.reason));
      const off = this.on(event, (value) => {
        if (predicate(value)) finish(undefined, value);
      });
      const finish = (err?: Error, value?: LeaseEvents[K]): void => {
        off();
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(value as LeaseEvents[K]);
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #keepAlive(): void {
    clearInterval(this.#renew);
    this.#renew = setInterval(() => {
      const g = this.#grant;
      if (g) void this.#client.renew(g.id);
    }, 10_000);
  }

  #setState(s: LeaseState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }
}
