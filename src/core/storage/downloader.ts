import { AbortError, WosError } from '../errors.ts';
import { stripeLength, type Manifest } from './manifest.ts';
import { firstK } from './first-k.ts';
import { FileUnavailableError } from './service-errors.ts';
import { fetchShard } from './shard-io.ts';
import { openPieces } from './seal-stripe.ts';
import { SignalFan } from './signal-fan.ts';
import type { StorageContext } from './storage-context.ts';
import { joinStripe } from './stripe.ts';

/**
 * The get pipeline. Per stripe: ask for k shards at once from the fastest live stores (this
 * node's own store first, then by RTT; data shards before parity at equal cost, as they need no
 * decoding), verify each shard's hash, replace any that fail with another shard, rebuild
 * missing data shards with Reed-Solomon, open the k sealed chunks and join them. The stream
 * fetches `readAhead` stripes ahead of the reader and stops when it is cancelled.
 */

/** Rounds of asks for a stripe's shards: a holder that just failed (busy, reconnecting) gets more. */
const FETCH_ROUNDS = 3;
const RETRY_BACKOFF_MS = 400;

/** At least k verified shards of stripe `s` (slots of the others are undefined). */
export async function fetchStripe(
  ctx: StorageContext,
  man: Manifest,
  s: number,
  signal?: AbortSignal,
): Promise<(Uint8Array | undefined)[]> {
  const { k, n, file } = man.body;
  const layout = man.body.stripes[s]!;
  const storeOf = (i: number): string => man.body.stores[layout.shards[i]![1]]!;
  const got: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(n).fill(undefined);
  // Shards known bad (corrupt or gone): never asked again for this read.
  const bad = new Set<number>();
  const fan = new SignalFan(signal);
  let good = 0;
  let lastError: unknown;
  try {
    for (let round = 0; round < FETCH_ROUNDS && good < k; round++) {
      const ask = (): number[] =>
        [...Array(n).keys()]
          .filter((i) => got[i] === undefined && !bad.has(i) && ctx.dir.online(storeOf(i)))
          .sort((a, b) => cost(ctx, storeOf(a), a >= k) - cost(ctx, storeOf(b), b >= k));
      if (round > 0) {
        // Nobody left to ask again: fail now rather than after the backoff.
        if (ask().length === 0) break;
        await sleep(ctx, RETRY_BACKOFF_MS * round, signal);
      }
      good += await firstK(ask(), k - good, async (i) => {
        if (signal?.aborted) throw new AbortError('get', signal.reason);
        const store = storeOf(i);
        try {
          const key = { file, stripe: s, index: i };
          const hash = layout.shards[i]![0];
          got[i] = await fan.run((sig) => fetchShard(ctx, store, key, layout.size, hash, sig));
          return true;
        } catch (e) {
          if (signal?.aborted) throw e;
          lastError = e;
          if (e instanceof WosError && (e.code === 'HASH_MISMATCH' || e.code === 'NO_SHARD')) {
            bad.add(i);
            ctx.onBadShard?.(file, s, i, store);
          }
          return false;
        }
      });
    }
  } finally {
    fan.close();
  }
  if (good < k) throw new FileUnavailableError(file, s, good, k, lastError);
  return got;
}

function sleep(ctx: StorageContext, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('get', signal.reason));
    const onAbort = (): void => {
      ctx.clock.clearTimeout(t);
      reject(new AbortError('get', signal?.reason));
    };
    const t = ctx.clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Where the get pipeline takes a stripe's shards from (the network, or the cache first). */
export type StripeFetch = typeof fetchStripe;

/** Lower is better: RTT of the store's best node, plus a little for parity (it needs decoding). */
function cost(ctx: StorageContext, store: string, parity: boolean): number {
  const node = ctx.dir.nodesOf(store)[0];
  const rtt = node === undefined ? 1e9 : ctx.dir.rttOf(node);
  return rtt / ctx.dir.reliability(store) + (parity ? 0.5 : 0);
}

/** All n shards of stripe `s` from at least k present ones. */
export async function completeStripe(
  ctx: Pick<StorageContext, 'coder'>,
  man: Manifest,
  shards: (Uint8Array | undefined)[],
): Promise<Uint8Array[]> {
  const { k, n } = man.body;
  if (shards.every((x) => x !== undefined)) return shards as Uint8Array[];
  return ctx.coder.reconstruct(shards, k, n - k);
}

/** The plaintext of stripe `s` from its shards. */
export async function decodeStripe(
  ctx: Pick<StorageContext, 'coder' | 'subtle'>,
  man: Manifest,
  s: number,
  shards: (Uint8Array | undefined)[],
): Promise<Uint8Array> {
  const { k } = man.body;
  const dataPresent = shards.slice(0, k).every((x) => x !== undefined);
  const data = dataPresent
    ? (shards.slice(0, k) as Uint8Array[])
    : (await completeStripe(ctx, man, shards)).slice(0, k);
  const count = man.body.stripes.length * k;
  const pieces = await openPieces(ctx.subtle, man.keys, s * k, data, count);
  return joinStripe(pieces, stripeLength(man.meta, s));
}

/** The file's plaintext as a stream of stripes, fetched `readAhead` stripes ahead. */
export function readStream(
  ctx: StorageContext,
  man: Manifest,
  signal?: AbortSignal,
  fetch: StripeFetch = fetchStripe,
): ReadableStream<Uint8Array> {
  const count = man.body.stripes.length;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const ahead = new Map<number, Promise<Uint8Array>>();
  let next = 0;
  const start = (s: number): void => {
    if (s >= count || ahead.has(s)) return;
    const p = fetch(ctx, man, s, stop.signal).then((sh) => decodeStripe(ctx, man, s, sh));
    p.catch(() => {});
    ahead.set(s, p);
  };
  const finish = (): void => {
    signal?.removeEventListener('abort', onAbort);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (let s = next; s < next + Math.max(1, ctx.opts.readAhead); s++) start(s);
        const bytes = await ahead.get(next)!;
        ahead.delete(next);
        next++;
        if (bytes.length > 0) controller.enqueue(bytes);
        if (next >= count) {
          finish();
          controller.close();
        }
      } catch (e) {
        stop.abort();
        finish();
        controller.error(e);
      }
    },
    cancel(reason) {
      stop.abort(reason);
      finish();
    },
  });
}
