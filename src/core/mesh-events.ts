import * as v from 'valibot';
import type { Bus } from './bus.ts';
import { packValue, unpackValue } from './compute/value-codec.ts';
import { AbortError, ArgumentError, TimeoutError } from './errors.ts';
import type { Membership } from './membership.ts';

/**
 * Mesh-wide events (the programming model's `event` and `wait`): `emit` delivers a named
 * value to every live member, relayed where no direct channel exists; `on` subscribes;
 * `wait` resolves on the next matching event.
 */
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const EventSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(NAME)),
  data: v.unknown(),
});

export interface MeshEvent {
  name: string;
  data: unknown;
  from: string;
}

export class MeshEvents {
  readonly #bus: Bus;
  readonly #members: Membership;
  readonly #handlers = new Map<string, Set<(e: MeshEvent) => void>>();

  constructor(bus: Bus, members: Membership) {
    this.#bus = bus;
    this.#members = members;
    bus.handle('ev', EventSchema, (m) =>
      this.#deliver({ name: m.body.name, data: unpackValue(m.body.data, m.bin), from: m.from }),
    );
  }

  /** Sends `data` under `name` to every member, this node included. */
  emit(name: string, data: unknown = null): void {
    if (!NAME.test(name)) throw new ArgumentError(`event name '${name}' must match ${NAME.source}`);
    const packed = packValue(data);
    for (const m of this.#members.alive()) {
      this.#bus.send(m.id, 'ev', { name, data: packed.json }, packed.bin).catch(() => {});
    }
    queueMicrotask(() => this.#deliver({ name, data, from: this.#bus.nodeId }));
  }

  on(name: string, handler: (e: MeshEvent) => void): () => void {
    let set = this.#handlers.get(name);
    if (!set) this.#handlers.set(name, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  wait(
    name: string,
    predicate: (e: MeshEvent) => boolean = () => true,
    o: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<MeshEvent> {
    return new Promise((resolve, reject) => {
      const finish = (err?: Error, e?: MeshEvent): void => {
        off();
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(e!);
      };
      const off = this.on(name, (e) => {
        if (predicate(e)) finish(undefined, e);
      });
      const timer =
        o.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => finish(new TimeoutError(`wait('${name}')`, o.timeoutMs!)),
              o.timeoutMs,
            );
      const onAbort = (): void => finish(new AbortError(`wait('${name}')`, o.signal?.reason));
      if (o.signal?.aborted) return onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #deliver(e: MeshEvent): void {
    for (const h of [...(this.#handlers.get(e.name) ?? [])]) {
      try {
        h(e);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
