import {
  coderServer,
  type CoderRequest,
  type Post,
} from '../src/platform/storage/coder-protocol.ts';

/**
 * The erasure coder's dedicated module worker (one per pool slot, see
 * src/platform/storage/worker-coder.ts): gets the compiled Reed-Solomon wasm in `init`, then
 * codes stripes posted to it (a put's stripes it also seals with the file's content key and
 * hashes) and transfers the shards back. Bundled by Vite from
 * `new Worker(new URL(…), { type: 'module' })` in coder-worker-browser.ts.
 */
const scope = self as unknown as {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((e: MessageEvent<CoderRequest>) => void) | null;
};
const post: Post = (reply, transfer) => scope.postMessage(reply, transfer);
const handle = coderServer(post);
scope.onmessage = (e) => handle(e.data);
