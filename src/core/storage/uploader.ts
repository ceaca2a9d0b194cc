import { toBase64Url } from '../bytes.ts';
import type { Catalog } from './catalog.ts';
import { every } from '../clock.ts';
import { AbortError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import { handStripeToCoder } from './seal-stripe.ts';
import { deriveFileKeys, newFileId } from './keys.ts';
import { sealManifestMeta, signManifest, type Manifest, type ManifestBody } from './manifest.ts';
import { signDelete } from './owner.ts';
import { PieceLanes } from './piece-lanes.ts';
import { distinctHolders, placeShards, type Candidate } from './placement.ts';
import { resolveRedundancy, type Redundancy } from './redundancy.ts';
import { NoHolderError, QuotaFullError } from './service-errors.ts';
import { hashOf, putShard } from './shard-io.ts';
import { SignalFan } from './signal-fan.ts';
import type { StorageContext } from './storage-context.ts';
import { stripeSource, type PutData } from './stripe-source.ts';

/**
 * The put pipeline. Stripe by stripe (a few in flight while the next is read): cut into k
 * pieces, seal each as one content chunk, add n − k Reed-Solomon parity shards, hash all n and
 * send them to n different stores (placement.ts), retrying a failed holder on another store
 * and, when none is left, on the local store, where the shard waits for repair to move it.
 * The manifest goes out last, so until then nothing is visible; on any failure (abort, quota,
 * holders gone) the owner's signed delete goes to every store used, and holders collect what
 * it misses as orphans once their grace period ends.
 */
export interface PutProgress {
  /** Plaintext bytes stored so far (whole stripes, every shard of them on a holder). */
  bytes: number;
  /**
   * Plaintext bytes' worth of shard pieces the holders have acknowledged: `bytes` plus, for each
   * stripe still being sent, its acknowledged shard bytes scaled to its plaintext size. It moves
   * piece by piece (a progress bar can follow it), is never below `bytes` and equals it once
   * the put is done; it steps back if a holder fails and its shard is sent to another.
   */
  sent: number;
  /** Total bytes, when known up front. */
  total: number | undefined;
  /** Stripes stored so far. */
  stripes: number;
}

export interface PutOptions {
  signal?: AbortSignal;
  onProgress?: (p: PutProgress) => void;
  /** Per-file code; by default chosen from the distinct stores with room (redundancy.ts). */
  redundancy?: Redundancy;
  /** MIME type (a Blob's own type by default). */
  type?: string;
}

class Layout {
  readonly stores: string[] = [];
  readonly stripes: ManifestBody['stripes'] = [];

  at(store: string): number {
    let i = this.stores.indexOf(store);
    if (i < 0) i = this.stores.push(store) - 1;
    return i;
  }
}

export async function uploadFile(
  ctx: StorageContext,
  catalog: Catalog,
  name: string,
  data: PutData,
  opts: PutOptions = {},
): Promise<Manifest> {
  const { signal } = opts;
  if (signal?.aborted) throw new AbortError('put', signal.reason);
  const stripeBytes = ctx.opts.stripeBytes;
  const src = stripeSource(data, stripeBytes);
  // Every holder's current room (donations change), not what it said when it joined.
  await ctx.dir.refresh(true);
  const estimate = Math.ceil(Math.min(src.size ?? stripeBytes, stripeBytes) / 3);
  const holders = distinctHolders(ctx.dir.candidates(), estimate);
  const { k, n } = resolveRedundancy(Math.min(holders, ctx.opts.maxShards), opts.redundancy);
  const fileIdBytes = newFileId(ctx.random);
  const file = toBase64Url(fileIdBytes);
  // The epoch is fixed for the whole put, even if the ring changes meanwhile.
  const epoch = ctx.keyRing.current;
  const keys = await deriveFileKeys(ctx.subtle, epoch.root, fileIdBytes);
  const layout = new Layout();
  const used = new Set<string>();
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const stopHold = every(ctx.clock, ctx.opts.holdEveryMs, () => {
    for (const s of used) {
      const node = ctx.dir.nodesOf(s)[0];
      if (node)
        void ctx.bus.request(node, 'st.hold', { file, owner: ctx.ownerKey }).catch(() => {});
    }
  });
  let total = 0;
  let stored = 0;
  let done = 0;
  // Stripes being sent: plaintext bytes, shard bytes of all n shards, shard bytes acknowledged.
  const sending = new Map<number, { plain: number; shardBytes: number; acked: number }>();
  const lanes = new PieceLanes(ctx.opts.piecesInFlight * ctx.opts.inflightStripes);
  const report = (): void => {
    let sent = stored;
    for (const t of sending.values()) sent += Math.floor((t.acked / t.shardBytes) * t.plain);
    try {
      opts.onProgress?.({ bytes: stored, sent, total: src.size, stripes: done });
    } catch {
      // A faulty progress callback must not fail the upload.
    }
  };

  const storeStripe = async (
    s: number,
    bytes: Uint8Array,
    last: boolean,
    atCoder: () => void,
  ): Promise<void> => {
    // The stripe is the source's own fresh buffer (stripe-source.ts): a worker coder takes it.
    const plain = bytes.length;
    const { coded } = await handStripeToCoder(
      ctx.coder,
      ctx.subtle,
      keys,
      s * k,
      bytes,
      k,
      last,
      n - k,
    );
    atCoder();
    const { shards, digests } = await coded;
    // A worker coder hashed the shards itself; otherwise they are hashed here.
    const hashes = digests
      ? digests.map(toBase64Url)
      : await Promise.all(shards.map((b) => hashOf(ctx.subtle, b)));
    const size = shards[0]!.length;
    const track = { plain, shardBytes: size * n, acked: 0 };
    sending.set(s, track);
    const onAcked = (delta: number): void => {
      track.acked += delta;
      report();
    };
    const stores = await placeStripe(ctx, file, s, shards, hashes, stop.signal, used, {
      lanes,
      onAcked,
    });
    layout.stripes[s] = { size, shards: hashes.map((h, i) => [h, layout.at(stores[i]!)]) };
    sending.delete(s);
    stored += plain;
    done++;
    report();
  };

  let failure: unknown;
  try {
    const inflight = new Set<Promise<void>>();
    for (let s = 0; ; s++) {
      if (stop.signal.aborted) break;
      const bytes = (await src.next()) ?? new Uint8Array(0);
      const last = await src.atEnd();
      total += bytes.length;
      let atCoder!: () => void;
      const handedOver = new Promise<void>((resolve) => (atCoder = resolve));
      const p = storeStripe(s, bytes, last, atCoder).then(
        () => void inflight.delete(p),
        (e: unknown) => {
          failure ??= e;
          stop.abort();
        },
      );
      inflight.add(p);
      // The next stripe is read only once this one is at the coder. With a worker coder that
      // is at once; a coder without workers has the page seal first, and as Chromium runs
      // WebCrypto on the calling thread, sealing the next stripe before handing this one over
      // would leave the coder idle for a whole seal (docs/BENCHMARKS.md, stop 10).
      await Promise.race([handedOver, p]);
      while (inflight.size >= ctx.opts.inflightStripes && !stop.signal.aborted) {
        await Promise.race(inflight);
      }
      if (last) break;
    }
    await Promise.all(inflight);
    if (stop.signal.aborted) throw failure ?? new AbortError('put', signal?.reason);
    const meta = {
      v: 1 as const,
      owner: ctx.ownerKey,
      rev: 1,
      name,
      type: opts.type ?? (data instanceof Blob ? data.type : ''),
      size: total,
      stripeBytes,
      created: ctx.clock.now(),
    };
    const body: ManifestBody = {
      v: 1,
      file,
      rev: 1,
      owner: ctx.ownerKey,
      tag: epoch.tag,
      ...(epoch.epoch > 0 ? { epoch: epoch.epoch } : {}),
      k,
      n,
      stores: layout.stores,
      stripes: layout.stripes,
      meta: await sealManifestMeta(ctx.subtle, keys, ctx.random, meta),
    };
    const man: Manifest = { body, meta, signed: await signManifest(body, ctx.owner), keys };
    // Written last: from here on the file is visible.
    if ((await catalog.publish(man)).taken === 0) {
      catalog.forget(file);
      throw new NoHolderError('no holder took the manifest');
    }
    return man;
  } catch (e) {
    stop.abort();
    await src.cancel(e).catch(() => {});
    await discard(ctx, file, used);
    if (signal?.aborted) throw new AbortError('put', signal.reason);
    throw e;
  } finally {
    stopHold();
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Sends the n shards of a stripe to n stores; returns the store of each shard. */
async function placeStripe(
  ctx: StorageContext,
  file: string,
  stripe: number,
  shards: Uint8Array[],
  hashes: string[],
  signal: AbortSignal,
  used: Set<string>,
  how: { lanes: PieceLanes; onAcked: (delta: number) => void },
): Promise<string[]> {
  const bytes = shards[0]!.length;
  const taken = new Set<string>();
  const failed = new Set<string>();
  const devices: string[] = [];
  const next = (): Candidate | undefined => {
    const [c] = placeShards(ctx.dir.candidates(), 1, {
      bytes,
      avoidStores: new Set([...taken, ...failed]),
      usedDevices: devices,
    });
    if (c) {
      taken.add(c.store);
      devices.push(c.device);
    }
    return c;
  };
  devices.push(deviceOfNode(ctx.dir.selfNode));
  const fan = new SignalFan(signal);
  return Promise.all(
    shards.map(async (shard, index) => {
      const key = { file, stripe, index };
      // What this shard has had acknowledged on the store being tried: taken back if it fails.
      let acked = 0;
      const onPiece = (len: number): void => {
        acked += len;
        how.onAcked(len);
      };
      const put = (store: string): Promise<void> =>
        fan.run((sig) =>
          putShard(ctx, store, key, shard, hashes[index]!, sig, { lanes: how.lanes, onPiece }),
        );
      let lastError: unknown;
      for (let c = next(); c; c = next()) {
        try {
          used.add(c.store);
          await put(c.store);
          return c.store;
        } catch (e) {
          if (signal.aborted) throw e;
          lastError = e;
          if (acked > 0) how.onAcked(-acked);
          acked = 0;
          taken.delete(c.store);
          failed.add(c.store);
        }
      }
      // No remote store left: the shard waits locally until repair moves it out.
      used.add(ctx.dir.selfStore);
      try {
        await put(ctx.dir.selfStore);
      } catch (e) {
        if (e instanceof WosError && e.code === 'QUOTA_FULL') {
          throw new QuotaFullError(
            `no store in the mesh has room for a ${bytes}-byte shard of this file (${e.message})`,
          );
        }
        throw lastError instanceof WosError && !(e instanceof WosError) ? lastError : e;
      }
      return ctx.dir.selfStore;
    }),
  ).finally(() => fan.close());
}

/** Best effort: the owner's signed delete to every store that may hold a shard of `file`. */
async function discard(ctx: StorageContext, file: string, stores: Set<string>): Promise<void> {
  const sig = await signDelete(ctx.owner, file);
  const body = { file, owner: ctx.ownerKey, sig };
  await Promise.allSettled(
    [...stores].flatMap((s) =>
      ctx.dir
        .nodesOf(s)
        .slice(0, 1)
        .map((node) =>
          ctx.bus.request(node, 'st.delete', body, { timeoutMs: ctx.opts.requestTimeoutMs }),
        ),
    ),
  );
}
