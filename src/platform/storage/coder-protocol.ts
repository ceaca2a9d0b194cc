import { createErasureCoder, type ErasureCoder } from '../../core/storage/erasure.ts';
import { WosError } from '../../core/errors.ts';
import type { ContentKeys } from '../../core/storage/keys.ts';
import { sealPieces } from '../../core/storage/seal-stripe.ts';
import { splitStripe } from '../../core/storage/stripe.ts';

/**
 * Messages between a `WorkerStripeCoder` (worker-coder.ts) and its coder workers
 * (workers/coder-worker.ts in tabs, coder-worker-node.ts in Node). The page compiles the wasm
 * once and sends the `WebAssembly.Module` in `init`; each worker instantiates its own copy.
 *
 * Buffers move, they are not copied: requests transfer the buffers the caller hands over (the
 * data shards of `encodeOwned`, the plaintext stripe of `sealEncode`) and every reply transfers
 * the shards it returns.
 */
export type CoderRequest =
  | { id: number; op: 'init'; module: WebAssembly.Module; maxMemoryBytes?: number }
  /** Parity of `data`; with `returnData`, the data shards come back first (all n shards). */
  | {
      id: number;
      op: 'encode';
      data: Uint8Array[];
      m: number;
      returnData: boolean;
    }
  /**
   * Cuts the plaintext `stripe` into k pieces, seals them as content chunks `first`, `first + 1`,
   * … (the last one final if `lastStripe`) and codes them: all n shards come back, with
   * `digests` their SHA-256 too.
   */
  | {
      id: number;
      op: 'sealEncode';
      keys: ContentKeys;
      first: number;
      stripe: Uint8Array;
      k: number;
      lastStripe: boolean;
      m: number;
      digests: boolean;
    }
  /** Only the rebuilt shards come back, in the order of their missing slots. */
  | { id: number; op: 'reconstruct'; shards: (Uint8Array | undefined)[]; k: number; m: number };

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  present?: number;
  needed?: number;
}

export type CoderReply =
  | { id: number; ok: true; shards: Uint8Array[]; digests?: Uint8Array[] }
  | { id: number; ok: false; error: SerializedError };

export type Post = (reply: CoderReply, transfer: Transferable[]) => void;

export function serializeError(e: unknown): SerializedError {
  if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
  const out: SerializedError = { name: e.name, message: e.message };
  if (e instanceof WosError) out.code = e.code;
  const extra = e as { present?: unknown; needed?: unknown };
  if (typeof extra.present === 'number') out.present = extra.present;
  if (typeof extra.needed === 'number') out.needed = extra.needed;
  return out;
}

/** The buffers of `shards`, each once: safe to transfer only if every view spans its buffer. */
export function buffersOf(shards: readonly Uint8Array[]): ArrayBuffer[] {
  const set = new Set<ArrayBuffer>();
  for (const s of shards) set.add(s.buffer as ArrayBuffer);
  return [...set];
}

/**
 * The worker side: returns the message handler. Requests start in arrival order (the coder is
 * synchronous; sealing and hashing wait for WebCrypto, so replies may come back in another
 * order); requests that arrive before `init` has finished wait for it.
 */
export function coderServer(post: Post): (msg: CoderRequest) => void {
  let coder: Promise<ErasureCoder> | undefined;
  const fail = (id: number, e: unknown): void =>
    post({ id, ok: false, error: serializeError(e) }, []);
  return (msg) => {
    if (msg.op === 'init') {
      const opts = msg.maxMemoryBytes === undefined ? {} : { maxMemoryBytes: msg.maxMemoryBytes };
      coder = createErasureCoder(msg.module, opts);
      coder.then(
        () => post({ id: msg.id, ok: true, shards: [] }, []),
        (e: unknown) => fail(msg.id, e),
      );
      return;
    }
    if (!coder) return fail(msg.id, new Error('the coder worker got a request before init'));
    coder.then(
      async (c) => {
        try {
          let out: Uint8Array[];
          if (msg.op === 'encode' || msg.op === 'sealEncode') {
            const data =
              msg.op === 'encode'
                ? msg.data
                : await sealPieces(
                    subtle(),
                    msg.keys,
                    msg.first,
                    splitStripe(msg.stripe, msg.k),
                    msg.lastStripe,
                  );
            const parity = c.encode(data, msg.m);
            out = msg.op === 'encode' && !msg.returnData ? parity : [...data, ...parity];
            if (msg.op === 'sealEncode' && msg.digests) {
              const digests = await digestAll(out);
              const transfer = [...buffersOf(out), ...digests.map((d) => d.buffer as ArrayBuffer)];
              return post({ id: msg.id, ok: true, shards: out, digests }, transfer);
            }
          } else {
            const all = c.reconstruct(msg.shards, msg.k, msg.m);
            out = [];
            msg.shards.forEach((s, i) => s === undefined && out.push(all[i]!));
          }
          post({ id: msg.id, ok: true, shards: out }, buffersOf(out));
        } catch (e) {
          fail(msg.id, e);
        }
      },
      (e: unknown) => fail(msg.id, e),
    );
  };
}

/** The worker's own WebCrypto (a tab's worker or a Node thread). */
const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

/** SHA-256 of each shard. */
async function digestAll(shards: readonly Uint8Array[]): Promise<Uint8Array[]> {
  const out = await Promise.all(shards.map((s) => subtle().digest('SHA-256', s as BufferSource)));
  return out.map((d) => new Uint8Array(d));
}
