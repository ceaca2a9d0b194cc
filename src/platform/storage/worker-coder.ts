import { WosError } from '../../core/errors.ts';
import { TAG_BYTES } from '../../core/storage/cipher.ts';
import { checkCoderParams } from '../../core/storage/erasure.ts';
import { shardSizeFor } from '../../core/storage/stripe.ts';
import type { ContentKeys } from '../../core/storage/keys.ts';
import type { StripeCoder } from '../../core/storage/storage-context.ts';
import {
  CoderFailedError,
  CoderParamsError,
  NotEnoughShardsError,
} from '../../core/storage/storage-errors.ts';
import {
  buffersOf,
  type CoderReply,
  type CoderRequest,
  type SerializedError,
} from './coder-protocol.ts';

/**
 * The Reed-Solomon coder in dedicated workers, as a `StripeCoder`: a stripe is posted to the
 * least busy worker of a small pool and its shards come back, so the wasm never blocks the
 * page's main thread (or Node's event loop) and coding overlaps the network. A put's stripes
 * are sealed there too (`sealEncode`: AES-GCM with the content key), so the page only reads.
 *
 * Copies: `encodeOwned` transfers the caller's data buffers to the worker and gets them back
 * with the parity, and `sealEncode` transfers the plaintext stripe (no copy on this thread);
 * `encode` and `reconstruct` leave their inputs usable, so their inputs are copied once by
 * `postMessage`; results are always transferred.
 *
 * Failure: if a worker dies (an uncaught error, a failed start, an exit) or does not answer a
 * call within `callTimeoutMs`, it is terminated, every call in flight on it is rejected with a
 * `CoderWorkerError` (code `CODER_WORKER_FAILED`), and the next call starts a fresh worker.
 * Errors of the coder itself (bad parameters, too few shards, a wasm trap) come back as the
 * same error classes and codes as from the in-thread coder.
 */

/** A coder worker as the pool sees it (a Web Worker or a Node worker thread, adapted). */
export interface CoderPort {
  postMessage(msg: CoderRequest, transfer: Transferable[]): void;
  /** Replies go to `onMessage`; a dead worker (error, exit, undeliverable reply) to `onError`. */
  listen(onMessage: (reply: CoderReply) => void, onError: (detail: string) => void): void;
  terminate(): void;
}

export interface WorkerCoderOptions {
  /** Starts one worker (throws if workers are unavailable). */
  spawn: () => CoderPort;
  /** The compiled coder wasm, sent to every worker. */
  module: WebAssembly.Module;
  /** Workers at most (default 1); they start as calls need them. */
  size?: number;
  /** A call with no answer for this long kills its worker (default 60 s). */
  callTimeoutMs?: number;
  /** Passed to each worker's coder (erasure.ts). */
  maxMemoryBytes?: number;
}

/** The coder worker died, was stopped or did not answer; the call may be retried. */
export class CoderWorkerError extends WosError {
  constructor(detail: string, cause?: unknown) {
    super('CODER_WORKER_FAILED', `the erasure coder worker failed: ${detail}; retry`, { cause });
    this.name = 'CoderWorkerError'; // new.target.name is minified in the bundle
  }
}

/** What a call's successful reply carries. */
interface Result {
  shards: Uint8Array[];
  digests?: Uint8Array[] | undefined;
}

interface Call {
  resolve: (result: Result) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Slot {
  port: CoderPort;
  calls: Map<number, Call>;
  dead: boolean;
  /** Settles when the worker's coder is ready (rejects if it could not start). */
  ready: Promise<void>;
}

type Build = (id: number) => { msg: CoderRequest; transfer: Transferable[] };

export class WorkerStripeCoder implements StripeCoder {
  readonly #o: Required<Omit<WorkerCoderOptions, 'maxMemoryBytes'>> &
    Pick<WorkerCoderOptions, 'maxMemoryBytes'>;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;
  /** Workers started so far (a restart after a failure counts). */
  started = 0;

  constructor(o: WorkerCoderOptions) {
    const size = o.size ?? 1;
    if (!Number.isInteger(size) || size < 1) throw new CoderParamsError(`pool size ${size}`);
    this.#o = { size, callTimeoutMs: 60_000, ...o };
  }

  /** Workers running now. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Calls waiting for a worker's answer. */
  get inFlight(): number {
    return this.#slots.reduce((n, s) => n + s.calls.size, 0);
  }

  /** Starts a worker and waits until its coder is ready (checks that workers work here). */
  async warm(): Promise<void> {
    await (this.#slots[0] ?? this.#start()).ready;
  }

  encode(data: readonly Uint8Array[], m: number): Promise<Uint8Array[]> {
    const copies = data.map(ownCopy);
    return this.#run((id) => ({
      msg: { id, op: 'encode', data: copies, m, returnData: false },
      transfer: buffersOf(copies.filter((c, i) => c !== data[i])),
    })).then((r) => r.shards);
  }

  /**
   * Like `encode`, but takes the data shards: their buffers move to the worker (no copy) and
   * come back. Returns all n shards, data first; `data` must not be used afterwards (its
   * buffers are detached, even when the call fails).
   */
  encodeOwned(data: Uint8Array[], m: number): Promise<Uint8Array[]> {
    const sent = movable(data);
    return this.#run((id) => ({
      msg: { id, op: 'encode', data: sent, m, returnData: true },
      transfer: buffersOf(sent),
    })).then((r) => r.shards);
  }

  /**
   * Cuts, seals and codes the plaintext stripe in a worker and, with `digests`, hashes the n
   * shards there too: the stripe's buffer moves to the worker (copied
   * first only if the view does not span it). Only the content key and the file id go there,
   * never the metadata key.
   */
  async sealEncode(
    keys: ContentKeys,
    first: number,
    stripe: Uint8Array,
    k: number,
    lastStripe: boolean,
    m: number,
    digests: boolean,
  ): Promise<Result> {
    checkCoderParams(k, m);
    // Every shard is a sealed piece's size: a worker that skipped sealing is refused.
    const size = shardSizeFor(stripe.length, k) + TAG_BYTES;
    const [sent] = movable([stripe]);
    const r = await this.#run((id) => ({
      msg: {
        id,
        op: 'sealEncode',
        keys: { fileId: keys.fileId, content: keys.content },
        first,
        stripe: sent!,
        k,
        lastStripe,
        m,
        digests,
      },
      transfer: buffersOf([sent!]),
    }));
    if (!digests) return checkedShards(r.shards, k + m, size);
    return checkedDigests(r.shards, r.digests, k + m, size);
  }

  async reconstruct(
    shards: readonly (Uint8Array | undefined)[],
    k: number,
    m: number,
  ): Promise<Uint8Array[]> {
    if (shards.length === k + m && shards.every((s) => s !== undefined)) {
      return shards.slice() as Uint8Array[];
    }
    const copies = shards.map((s) => (s === undefined ? undefined : ownCopy(s)));
    const { shards: rebuilt } = await this.#run((id) => ({
      msg: { id, op: 'reconstruct', shards: copies, k, m },
      transfer: buffersOf(copies.filter((c, i): c is Uint8Array => c !== shards[i])),
    }));
    const all = shards.slice() as Uint8Array[];
    let j = 0;
    for (let i = 0; i < all.length; i++) if (shards[i] === undefined) all[i] = rebuilt[j++]!;
    return all;
  }

  /**
   * Terminates every worker now, as if they had crashed: calls in flight are rejected with
   * CODER_WORKER_FAILED; the next call starts a fresh worker.
   */
  restart(reason = 'the coder workers were restarted'): void {
    for (const s of [...this.#slots]) this.#kill(s, reason);
  }

  /** Terminates the workers for good; later calls fail. */
  close(): void {
    this.#closed = true;
    this.restart('the coder was closed');
  }

  #run(build: Build): Promise<Result> {
    if (this.#closed) return Promise.reject(new CoderWorkerError('the coder was closed'));
    let slot: Slot | undefined;
    for (const s of this.#slots) if (!slot || s.calls.size < slot.calls.size) slot = s;
    if (!slot || (slot.calls.size > 0 && this.#slots.length < this.#o.size)) {
      try {
        slot = this.#start();
      } catch (e) {
        return Promise.reject(
          new CoderWorkerError(`could not start a worker (${errorText(e)})`, e),
        );
      }
    }
    return this.#call(slot, build);
  }

  /** Spawns a worker and sends it the wasm; a failed start kills it (and rejects its calls). */
  #start(): Slot {
    const port = this.#o.spawn();
    const calls = new Map<number, Call>();
    const slot: Slot = { port, calls, dead: false, ready: Promise.resolve() };
    this.started++;
    port.listen(
      (reply) => {
        const call = calls.get(reply.id);
        if (!call) return;
        calls.delete(reply.id);
        clearTimeout(call.timer);
        if (reply.ok) call.resolve({ shards: reply.shards, digests: reply.digests });
        else call.reject(reviveError(reply.error));
      },
      (detail) => this.#kill(slot, `the worker died (${detail})`),
    );
    this.#slots.push(slot);
    const max = this.#o.maxMemoryBytes;
    slot.ready = this.#call(slot, (id) => ({
      msg: {
        id,
        op: 'init',
        module: this.#o.module,
        ...(max === undefined ? {} : { maxMemoryBytes: max }),
      },
      transfer: [],
    })).then(
      () => undefined,
      (e: Error) => {
        this.#kill(slot, `the worker could not start its coder (${e.message})`);
        throw e;
      },
    );
    slot.ready.catch(() => {}); // reported to warm() and, through the kill, to queued calls
    return slot;
  }

  #call(slot: Slot, build: Build): Promise<Result> {
    const id = this.#nextId++;
    const { msg, transfer } = build(id);
    return new Promise<Result>((resolve, reject) => {
      const timer = setTimeout(
        () => this.#kill(slot, `no answer within ${this.#o.callTimeoutMs} ms`),
        this.#o.callTimeoutMs,
      );
      slot.calls.set(id, { resolve, reject, timer });
      try {
        slot.port.postMessage(msg, transfer);
      } catch (e) {
        slot.calls.delete(id);
        clearTimeout(timer);
        reject(new CoderWorkerError(`could not post to the worker (${errorText(e)})`, e));
      }
    });
  }

  #kill(slot: Slot, detail: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
    try {
      slot.port.terminate();
    } catch {
      // already gone
    }
    const calls = [...slot.calls.values()];
    slot.calls.clear();
    for (const c of calls) {
      clearTimeout(c.timer);
      c.reject(new CoderWorkerError(detail));
    }
  }
}

/** n shards of `size` bytes, or CODER_WORKER_FAILED. */
function checkedShards(shards: Uint8Array[], n: number, size: number): { shards: Uint8Array[] } {
  if (shards.length !== n) {
    throw new CoderWorkerError(`the worker sent ${shards.length} shards, not ${n}`);
  }
  if (shards.some((s) => s.length !== size)) {
    throw new CoderWorkerError(`the worker sent shards that are not all ${size} bytes`);
  }
  return { shards };
}

/** n shards of `size` bytes, each with its SHA-256, or CODER_WORKER_FAILED. */
function checkedDigests(
  shards: Uint8Array[],
  digests: Uint8Array[] | undefined,
  n: number,
  size: number,
): { shards: Uint8Array[]; digests: Uint8Array[] } {
  checkedShards(shards, n, size);
  if (digests?.length !== n || digests.some((d) => d.length !== 32)) {
    throw new CoderWorkerError('the worker sent no SHA-256 digest for every shard');
  }
  return { shards, digests };
}

/**
 * Views whose buffers may be transferred, one buffer each: the given ones where they span
 * distinct buffers, else copies (transferring a shared or larger buffer would detach more).
 */
function movable(data: readonly Uint8Array[]): Uint8Array[] {
  const moved = data.map((d) => (spansBuffer(d) ? d : copyOf(d)));
  const unique = new Set(moved.map((d) => d.buffer)).size === moved.length;
  return unique ? moved : moved.map(copyOf);
}

/**
 * A fresh plain `Uint8Array` with a's bytes. Not `a.slice()`: on a Node Buffer (or a polyfill
 * of it) that is a view, and transferring its buffer would detach the caller's.
 */
function copyOf(a: Uint8Array): Uint8Array {
  return new Uint8Array(a);
}

/** Whether a view covers its whole buffer (only then may the buffer be transferred). */
function spansBuffer(a: Uint8Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

/**
 * What to post for an input the caller keeps: the array itself when it spans its buffer
 * (postMessage copies it), else a copy of just its bytes (transferred), since cloning a view
 * clones its whole buffer.
 */
function ownCopy(a: Uint8Array): Uint8Array {
  return spansBuffer(a) ? a : copyOf(a);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The worker's error as the same class and code the in-thread coder throws. */
export function reviveError(e: SerializedError): Error {
  let err: Error;
  switch (e.code) {
    case 'BAD_CODER_PARAMS':
      err = new CoderParamsError('');
      break;
    case 'NOT_ENOUGH_SHARDS':
      err = new NotEnoughShardsError(e.present ?? 0, e.needed ?? 0);
      break;
    case 'CODER_FAILED':
      err = new CoderFailedError('');
      break;
    default:
      return new CoderWorkerError(`it threw ${e.name}: ${e.message}`);
  }
  err.message = e.message;
  return err;
}
