/**
 * One AbortSignal fanned out to many concurrent requests. Each bus request adds an abort
 * listener to its signal; dozens of shard requests on one signal would pile listeners on it
 * (Node warns past 10). The fan listens to the parent once and aborts its children itself.
 */
export class SignalFan {
  readonly #children = new Set<AbortController>();
  readonly #parent: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    for (const c of this.#children) c.abort(this.#parent?.reason);
  };

  constructor(parent?: AbortSignal) {
    this.#parent = parent;
    parent?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** A signal that aborts with the parent; `done` releases it. */
  child(): { signal: AbortSignal; done: () => void } {
    const ctl = new AbortController();
    if (this.#parent?.aborted) ctl.abort(this.#parent.reason);
    this.#children.add(ctl);
    return { signal: ctl.signal, done: () => this.#children.delete(ctl) };
  }

  /** Runs `fn` with a child signal, released when it settles. */
  async run<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const c = this.child();
    try {
      return await fn(c.signal);
    } finally {
      c.done();
    }
  }

  /** Stops following the parent. */
  close(): void {
    this.#parent?.removeEventListener('abort', this.#onAbort);
    this.#children.clear();
  }
}
