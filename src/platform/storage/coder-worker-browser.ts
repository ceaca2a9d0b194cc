import type { ErasureCoderOptions } from '../../core/storage/erasure.ts';
import type { StripeCoder } from '../../core/storage/storage-context.ts';
import { createErasureCoder } from '../../core/storage/erasure.ts';
import type { CoderReply } from './coder-protocol.ts';
import { loadRsWasmModule } from './rs-wasm-browser.ts';
import { WorkerStripeCoder, type CoderPort } from './worker-coder.ts';

/**
 * The tab's erasure coder: a `WorkerStripeCoder` over dedicated module workers
 * (workers/coder-worker.ts), so coding never blocks the page. The wasm is compiled once here
 * and sent to each worker. If workers cannot be started or their coder cannot load, the tab
 * codes on its main thread instead (the same wasm, in-thread).
 */
export interface BrowserCoderOptions extends ErasureCoderOptions {
  /**
   * Workers in the pool (default: one per core, at most 2). They seal, code and hash a put's
   * stripes (`sealEncode`), so the page only reads and sends: on 2 cores, 2 workers
   * take a stripe each.
   */
  workers?: number;
  callTimeoutMs?: number;
}

export function defaultCoderWorkers(
  cores = globalThis.navigator?.hardwareConcurrency || 1,
): number {
  return Math.max(1, Math.min(2, cores));
}

function spawnCoderWorker(): CoderPort {
  const w = new Worker(new URL('../../../workers/coder-worker.ts', import.meta.url), {
    type: 'module',
    name: 'wos-coder',
  });
  return {
    postMessage: (msg, transfer) => w.postMessage(msg, transfer),
    listen(onMessage, onError) {
      w.onmessage = (e: MessageEvent<CoderReply>) => onMessage(e.data);
      w.onmessageerror = () => onError('a reply could not be deserialized');
      w.onerror = (e) => {
        e.preventDefault();
        onError(e.message || 'error event (the script failed to load or threw)');
      };
    },
    terminate: () => w.terminate(),
  };
}

/** The worker coder, started and checked (rejects if workers do not work here). */
export async function createBrowserWorkerCoder(
  opts: BrowserCoderOptions = {},
  module?: WebAssembly.Module,
): Promise<WorkerStripeCoder> {
  const coder = new WorkerStripeCoder({
    spawn: spawnCoderWorker,
    module: module ?? (await loadRsWasmModule()),
    size: opts.workers ?? defaultCoderWorkers(),
    ...(opts.callTimeoutMs === undefined ? {} : { callTimeoutMs: opts.callTimeoutMs }),
    ...(opts.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: opts.maxMemoryBytes }),
  });
  try {
    await coder.warm();
  } catch (e) {
    coder.close();
    throw e;
  }
  return coder;
}

/** The worker coder, or the main-thread coder if workers fail to start (logged). */
export async function createBrowserStripeCoder(
  opts: BrowserCoderOptions = {},
): Promise<StripeCoder> {
  const module = await loadRsWasmModule();
  try {
    return await createBrowserWorkerCoder(opts, module);
  } catch (e) {
    console.warn('erasure coder worker unavailable, coding on the main thread:', e);
    return createErasureCoder(module, opts);
  }
}
