import type {
  FailureKind,
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
}

/**
 * A kernel worker of the sandbox pool. Started by the opaque-origin iframe from a blob: URL;
 * receives its port to the page once, hardens its globals, then runs kernels: each kernel's
 * ES-module source is imported once (blob: URL, dynamic `import()`), its default export (or
 * `run`) is called with the input, and the output goes back with its ArrayBuffers transferred.
 * The page runs one task at a time here and terminates the worker at the task's time limit.
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

  const failure = (id: number, e: unknown): WorkerReply => {
    let kind: FailureKind = 'kernel';
    if (e instanceof SandboxViolation || violation !== undefined) kind = 'violation';
    else if (e instanceof LoadFailure) kind = 'load';
    const reply: WorkerReply = { t: 'err', id, kind, message: describe(e) };
    if (kind === 'violation') reply.api = e instanceof SandboxViolation ? e.api : violation;
    const stack = kind === 'kernel' ? stackOf(e) : undefined;
    if (stack !== undefined) reply.stack = stack;
    return reply;
  };

  const send = (post: Post, id: number, output: unknown): void => {
    const reply: WorkerReply = { t: 'ok', id, output };
    let transfer: ArrayBuffer[] = [];
    try {
      transfer = deps.transferables(output);
      return post(reply, transfer);
    } catch (e) {
      if (!(e instanceof Error && e.name === 'DataCloneError') || transfer.length === 0) {
        return post({ t: 'err', id, kind: 'clone', message: describe(e) });
      }
    }
    try {
      post(reply); // a buffer that cannot be moved (e.g. WebAssembly memory) is copied
    } catch (e) {
      post({ t: 'err', id, kind: 'clone', message: describe(e) });
    }
  };

  const run = async (req: RunRequest, post: Post): Promise<void> => {
    violation = undefined;
    let output: unknown;
    try {
      const kernel = await load(req.kernelId, req.source);
      output = await kernel.call(undefined, req.input);
    } catch (e) {
      return post(failure(req.id, e));
    }
    send(post, req.id, output);
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
