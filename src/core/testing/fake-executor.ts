import type { Clock } from '../clock.ts';
import { AbortError } from '../errors.ts';
import { KernelError, KernelTimeoutError } from '../compute/errors.ts';
import type { Executor, ExecutorLoad, RunOptions } from '../compute/executor.ts';
import type { Kernel } from '../compute/kernel.ts';

/**
 * An in-process executor for Node tests: runs real JS kernels (imported from data: URLs) but
 * without a sandbox, taking `delayMs` of simulated time per task on the given clock.
 */
export class FakeExecutor implements Executor {
  readonly kinds = ['js'] as const;
  readonly #clock: Clock;
  #workers: number;
  #busy = 0;
  readonly #queue: (() => void)[] = [];
  readonly #modules = new Map<string, Promise<(x: unknown) => unknown>>();
  delayMs: number;
  runs = 0;

  constructor(clock: Clock, workers: number, delayMs = 10) {
    this.#clock = clock;
    this.#workers = workers;
    this.delayMs = delayMs;
  }

  load(): ExecutorLoad {
    return { workers: this.#workers, busy: this.#busy, queued: this.#queue.length };
  }

  resize(workers: number): void {
    this.#workers = workers;
  }

  close(): void {
    this.#workers = 0;
  }

  async run(kernel: Kernel, input: unknown, opts: RunOptions): Promise<unknown> {
    if (this.#busy >= this.#workers) await new Promise<void>((r) => this.#queue.push(r));
    this.#busy++;
    try {
      let mod = this.#modules.get(kernel.id);
      if (!mod) {
        const url = `data:text/javascript;base64,${Buffer.from(kernel.spec.source).toString('base64')}`;
        mod = import(url).then(
          (m: { default?: unknown; run?: unknown }) =>
            (m.default ?? m.run) as (x: unknown) => unknown,
        );
        this.#modules.set(kernel.id, mod);
      }
      const fn = await mod;
      await new Promise<void>((resolve, reject) => {
        if (opts.signal?.aborted) return reject(new AbortError('task'));
        if (this.delayMs > opts.timeoutMs) {
          this.#clock.setTimeout(
            () => reject(new KernelTimeoutError(opts.timeoutMs)),
            opts.timeoutMs,
          );
        } else this.#clock.setTimeout(resolve, this.delayMs);
      });
      try {
        this.runs++;
        return await fn(input);
      } catch (e) {
        throw new KernelError((e as Error).message, (e as Error).stack);
      }
    } finally {
      this.#busy--;
      this.#queue.shift()?.();
    }
  }
}
