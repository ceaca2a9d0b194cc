import type {
  FailureKind,
  ItemReply,
  RunRequest,
  WorkerInit,
  WorkerReply,
} from '../src/platform/compute/sandbox/protocol.ts';
import type { transferables } from '../src/platform/compute/sandbox/transfer.ts';
import type { installStubs } from './sandbox-stubs.ts';

export interface KernelWorkerDeps {
  installStubs: typeof installStubs;
  transferables: typeof transferables;
  /** Native dynamic `import()`, given as text (a bundler would rewrite one it sees). */
  importModule(url: string): Promise<Record<string, unknown>>;
  /** A run reports what is done when this long has passed since its last report, ms. */
  flushMs: number;
}

/**
 * A kernel worker of the sandbox pool. Started by the opaque-origin iframe from a blob: URL;
 * receives its port to the page once, hardens its globals, then runs kernels: each kernel's
 * ES-module source is imported once (blob: URL, dynamic `import()`), its default export (or
 * `run`) is called with each input of a run in turn, and the outputs go back together with
 * their ArrayBuffers transferred (a long run reports in parts). The page sends one run at a
 * time here and terminates the worker when a task passes its time limit.
 *
 * Self-contained (no reference outside its body but `deps`): the page sends its text, see
 * `src/platform/compute/sandbox/worker-source.ts`.
 */
export function kernelWorkerMain(deps: KernelWorkerDeps): void {
  type KernelFn = (input: unknown) => unknown;
  type Post = (message: WorkerReply, transfer?: Transferable[]) => void;

  class SandboxViolation extends Error {
    readonly api: string;
    constructor(api: string) {
      super(`sandbox: kernels may not use ${api}`);
      this.name = 'SandboxViolationError';
      this.api = api;
    }
  }
  class LoadFailure extends Error {}

  const scope = globalThis as unknown as {
    onmessage: ((e: MessageEvent) => void) | null;
    postMessage(m: unknown): void;
  };
  const kernels = new Map<string, Promise<KernelFn>>();
  /** blob: URL → readable name, for stacks. */
  const names = new Map<string, string>();
  let violation: string | undefined;
  /** Bound before any kernel runs (a kernel may replace `performance.now`). */
  const now = performance.now.bind(performance);

  /** Never throws, whatever a kernel threw (getters, proxies, non-errors). */
  const describe = (e: unknown): string => {
    try {
      return e instanceof Error ? e.message || e.name : String(e);
    } catch {
      return 'an unprintable value was thrown';
    }
  };
  const stackOf = (e: unknown): string | undefined => {
    try {
      if (!(e instanceof Error) || typeof e.stack !== 'string') return undefined;
      let stack = e.stack;
      for (const [url, name] of names) stack = stack.split(url).join(name);
      return stack;
    } catch {
      return undefined;
    }
  };

  const importKernel = async (id: string, source: string): Promise<KernelFn> => {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    names.set(url, `kernel:${id.slice(0, 14)}`);
    let mod: Record<string, unknown>;
    try {
      mod = await deps.importModule(url);
    } catch (e) {
      throw e instanceof SandboxViolation ? e : new LoadFailure(describe(e));
    } finally {
      URL.revokeObjectURL(url);
    }
    const fn = typeof mod.default === 'function' ? mod.default : mod.run;
    if (typeof fn !== 'function') {
      throw new LoadFailure('its module has no default export or `run` export that is a function');
    }
    return fn as KernelFn;
  };

  const load = (id: string, source: string | undefined): Promise<KernelFn> => {
    let loaded = kernels.get(id);
    if (!loaded) {
      if (source === undefined)
        return Promise.reject(new LoadFailure('the worker lost its source'));
      loaded = importKernel(id, source);
      kernels.set(id, loaded);
      loaded.catch(() => kernels.delete(id));
    }
    return loaded;
  };

  const failure = (e: unknown): ItemReply => {
    let kind: FailureKind = 'kernel';
    if (e instanceof SandboxViolation || violation !== undefined) kind = 'violation';
    else if (e instanceof LoadFailure) kind = 'load';
    const reply: ItemReply = { t: 'err', kind, message: describe(e) };
    if (kind === 'violation') reply.api = e instanceof SandboxViolation ? e.api : violation;
    const stack = kind === 'kernel' ? stackOf(e) : undefined;
    if (stack !== undefined) reply.stack = stack;
    return reply;
  };

  /** One reply's items; a buffer that cannot move is copied, an unsendable output fails alone. */
  const send = (post: Post, id: number, at: number, items: ItemReply[], ms: number): void => {
    const reply: WorkerReply = { t: 'done', id, at, items, ms };
    let transfer: ArrayBuffer[] = [];
    let error: unknown;
    try {
      transfer = deps.transferables(items.map((i) => (i.t === 'ok' ? i.output : undefined)));
      return post(reply, transfer);
    } catch (e) {
      error = e;
    }
    if (items.length > 1) {
      items.forEach((item, i) => send(post, id, at + i, [item], i === 0 ? ms : 0));
      return;
    }
    if (transfer.length > 0) {
      try {
        return post(reply); // a buffer that cannot be moved (e.g. WebAssembly memory) is copied
      } catch (e) {
        error = e;
      }
    }
    post({ t: 'done', id, at, items: [{ t: 'err', kind: 'clone', message: describe(error) }], ms });
  };

  const run = async (req: RunRequest, post: Post): Promise<void> => {
    const { id, inputs } = req;
    let kernel: KernelFn;
    try {
      violation = undefined;
      kernel = await load(req.kernelId, req.source);
    } catch (e) {
      const f = failure(e);
      return send(
        post,
        id,
        0,
        inputs.map(() => f),
        0,
      );
    }
    let items: ItemReply[] = [];
    let at = 0;
    let ms = 0;
    let last = now();
    for (let i = 0; i < inputs.length; i++) {
      violation = undefined;
      const t = now();
      try {
        items.push({ t: 'ok', output: await kernel.call(undefined, inputs[i]) });
      } catch (e) {
        items.push(failure(e));
      }
      inputs[i] = undefined;
      const end = now();
      ms += end - t;
      if (i === inputs.length - 1 || end - last >= deps.flushMs) {
        send(post, id, at, items, ms);
        at = i + 1;
        items = [];
        ms = 0;
        last = end;
      }
    }
  };

  scope.onmessage = (e: MessageEvent) => {
    const port = e.ports[0];
    if (!port) return;
    scope.onmessage = null;
    // Bound before any kernel runs: a kernel that patches MessagePort.prototype changes nothing.
    const post = port.postMessage.bind(port) as Post;
    if ((e.data as Partial<WorkerInit> | null)?.stubs !== false) {
      deps.installStubs((api) => {
        violation ??= api;
        return new SandboxViolation(api);
      });
    }
    port.onmessage = (m: MessageEvent) => void run(m.data as RunRequest, post);
    post({ t: 'up' });
    scope.postMessage('up'); // to the bootstrap: error events from now on are a kernel's
  };
}
