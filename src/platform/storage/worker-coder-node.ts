import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { compileRsWasm } from '../../core/storage/rs-wasm.ts';
import type { CoderReply } from './coder-protocol.ts';
import { rsWasmPath } from './rs-wasm-node.ts';
import { WorkerStripeCoder, type CoderPort } from './worker-coder.ts';

/**
 * The erasure coder in Node worker threads (benchmarks; the agent could use it the same way).
 * The worker runs coder-worker-node.ts through tsx.
 */
function spawnNodeCoderWorker(): CoderPort {
  // Node 20 will not start a worker from a .ts file, so a one-line script loads tsx first.
  const entry = new URL('./coder-worker-node.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((t) => (t.register(), import(${JSON.stringify(entry)})))`;
  const w = new Worker(boot, { eval: true });
  w.unref();
  return {
    postMessage: (msg, transfer) =>
      w.postMessage(msg, transfer as Parameters<Worker['postMessage']>[1]),
    listen(onMessage, onError) {
      w.on('message', (m: CoderReply) => onMessage(m));
      w.on('error', (e) => onError(e.message));
      w.on('messageerror', (e) => onError(`undeliverable reply: ${e.message}`));
      w.on('exit', (code) => onError(`exited with code ${code}`));
    },
    terminate: () => void w.terminate(),
  };
}

export async function createNodeWorkerCoder(
  opts: { workers?: number; callTimeoutMs?: number } = {},
): Promise<WorkerStripeCoder> {
  const coder = new WorkerStripeCoder({
    spawn: spawnNodeCoderWorker,
    module: await compileRsWasm(readFile(rsWasmPath())),
    size: opts.workers ?? 1,
    ...(opts.callTimeoutMs === undefined ? {} : { callTimeoutMs: opts.callTimeoutMs }),
  });
  await coder.warm();
  return coder;
}
