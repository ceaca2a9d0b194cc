/** A tiny typed event emitter: `on` returns the unsubscribe function. */
export class Emitter<Events extends Record<string, unknown>> {
  readonly #handlers = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(event: K, handler: (value: Events[K]) => void): () => void {
    let set = this.#handlers.get(event);
    if (!set) this.#handlers.set(event, (set = new Set()));
    set.add(handler as (value: never) => void);
    return () => set.delete(handler as (value: never) => void);
  }

  emit<K extends keyof Events>(event: K, value: Events[K]): void {
    const set = this.#handlers.get(event);
    if (!set) return;
    for (const h of [...set]) {
      try {
        (h as (value: Events[K]) => void)(value);
      } catch (err) {
        // A faulty subscriber must not break the emitter or other subscribers.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
