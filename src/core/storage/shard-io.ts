import * as v from 'valibot';
import { toBase64Url } from '../bytes.ts';
import { WosError } from '../errors.ts';
import { sha256 } from '../identity.ts';
import { HashMismatchError, NoHolderError } from './service-errors.ts';
import type { PieceLanes } from './piece-lanes.ts';
import { describeShard, type ShardKey } from './shard-store.ts';
import type { StorageContext } from './storage-context.ts';
import { GetReplySchema, MAX_PIECE_BYTES, PutReplySchema } from './storage-protocol.ts';

/**
 * Moving one shard to or from a store, in pieces that each fit one data-channel frame (a few in
 * flight), with the checks every path needs: the put names the hash the holder verifies; every
 * fetched shard is hashed here before anyone uses it; each outcome feeds the store's
 * reliability score.
 */
export async function hashOf(subtle: SubtleCrypto, bytes: Uint8Array): Promise<string> {
  return toBase64Url(await sha256(subtle, bytes));
}

/** Runs `fn` for every piece offset of a `size`-byte shard, `width` at a time. */
async function eachPiece(
  size: number,
  piece: number,
  width: number,
  fn: (at: number, len: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < size) {
      const at = next;
      next += piece;
      await fn(at, Math.min(piece, size - at));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
}

function pieceSize(ctx: StorageContext): number {
  return Math.max(1, Math.min(ctx.opts.pieceBytes, MAX_PIECE_BYTES));
}

function liveNode(ctx: StorageContext, store: string): string {
  const node = ctx.dir.nodesOf(store)[0];
  if (node === undefined) throw new NoHolderError(`store ${store} is offline`);
  return node;
}

function judged<T>(ctx: StorageContext, store: string, p: Promise<T>): Promise<T> {
  return p.then(
    (x) => {
      ctx.dir.report(store, true);
      return x;
    },
    (e: unknown) => {
      if (!(e instanceof WosError && e.code === 'ABORTED')) ctx.dir.report(store, false);
      throw e;
    },
  );
}

export interface PutShardOptions {
  /** Told the length of every piece the holder acknowledged (for progress). */
  onPiece?: (len: number) => void;
  /**
   * Pieces wait for a slot here (shared with the other shards being put) instead of going
   * `piecesInFlight` per shard.
   */
  lanes?: PieceLanes;
}

/** Stores a shard on `store` (through its best live node). */
export function putShard(
  ctx: StorageContext,
  store: string,
  key: ShardKey,
  bytes: Uint8Array,
  hash: string,
  signal?: AbortSignal,
  more: PutShardOptions = {},
): Promise<void> {
  const { onPiece, lanes } = more;
  const piece = pieceSize(ctx);
  // With lanes every piece queues at once: the lanes, not this shard, bound what is in flight.
  const width = lanes ? Math.ceil(bytes.length / piece) : ctx.opts.piecesInFlight;
  const run = async (): Promise<void> => {
    const node = liveNode(ctx, store);
    const head = { ...key, hash, owner: ctx.ownerKey, size: bytes.length };
    let done = false;
    let failed = false;
    await eachPiece(bytes.length, piece, width, async (at, len) => {
      const release = await lanes?.take(store, key.stripe, at, signal);
      // Once a piece failed the shard goes elsewhere: its queued pieces need not go out.
      if (failed) return release?.();
      try {
        const r = await ctx.bus.request(
          node,
          'st.put',
          { ...head, at },
          {
            bin: bytes.subarray(at, at + len),
            timeoutMs: ctx.opts.shardTimeoutMs,
            ...(signal ? { signal } : {}),
          },
        );
        const body = v.parse(PutReplySchema, r.body);
        ctx.dir.note(node, body.quota, body.used);
        done ||= body.done;
        if (!failed) onPiece?.(len);
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        release?.();
      }
    });
    if (!done) throw new NoHolderError(`${describeShard(key)}: store ${store} did not complete it`);
  };
  return judged(ctx, store, run());
}

/** Fetches a `size`-byte shard from `store` and checks it against `hash` (HASH_MISMATCH if altered). */
export async function fetchShard(
  ctx: StorageContext,
  store: string,
  key: ShardKey,
  size: number,
  hash: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const bytes = await judged(
    ctx,
    store,
    (async () => {
      const node = liveNode(ctx, store);
      const out = new Uint8Array(size);
      await eachPiece(size, pieceSize(ctx), ctx.opts.piecesInFlight, async (from, len) => {
        const r = await ctx.bus.request(
          node,
          'st.get',
          { ...key, from, len },
          {
            timeoutMs: ctx.opts.shardTimeoutMs,
            ...(signal ? { signal } : {}),
          },
        );
        const total = v.parse(GetReplySchema, r.body).size;
        if (total !== size || r.bin?.length !== len) {
          throw new HashMismatchError(`${describeShard(key)} from store ${store} (wrong size)`);
        }
        out.set(r.bin, from);
      });
      return out;
    })(),
  );
  if ((await hashOf(ctx.subtle, bytes)) !== hash) {
    ctx.dir.report(store, false);
    throw new HashMismatchError(`${describeShard(key)} from store ${store}`);
  }
  return bytes;
}
