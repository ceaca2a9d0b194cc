import { completeStripe, fetchStripe, type StripeFetch } from './downloader.ts';
import type { FileCache, StripeKey } from './file-cache.ts';
import type { Manifest } from './manifest.ts';
import { hashOf } from './shard-io.ts';
import type { StorageContext } from './storage-context.ts';

/**
 * The get pipeline's stripe source with the local cache in front: a stripe whose sealed data
 * shards are cached (for this manifest revision) and still match the manifest's hashes is read
 * from there; anything else comes from the network (fetchStripe) and its k data shards are
 * kept for next time. A cached stripe that fails the check is dropped and fetched again, so the
 * cache can make a read faster but never wrong; either way the shards are opened and
 * authenticated by the normal decode path.
 */
export function cachedFetch(cache: FileCache): StripeFetch {
  return async (ctx, man, s, signal) => {
    const { file, rev, k, n } = man.body;
    const key: StripeKey = { file, rev, stripe: s };
    const hit = await cache.getStripe(key).catch(() => undefined);
    if (hit) {
      if (await matches(ctx, man, s, hit)) return padded(hit, n);
      await cache.dropStripe(key).catch(() => {});
    }
    const got = await fetchStripe(ctx, man, s, signal);
    const data = got.slice(0, k).every((x) => x !== undefined)
      ? (got.slice(0, k) as Uint8Array[])
      : (await completeStripe(ctx, man, got)).slice(0, k);
    // A failing cache (full disk, closed database) must not fail the read.
    await cache.putStripe(key, data, man.signed).catch(() => {});
    return padded(data, n);
  };
}

/** Whether `shards` are exactly the stripe's k data shards as the manifest hashes them. */
async function matches(
  ctx: StorageContext,
  man: Manifest,
  s: number,
  shards: readonly Uint8Array[],
): Promise<boolean> {
  const layout = man.body.stripes[s]!;
  if (!Array.isArray(shards) || shards.length !== man.body.k) return false;
  for (let i = 0; i < shards.length; i++) {
    const sh = shards[i];
    if (!(sh instanceof Uint8Array) || sh.length !== layout.size) return false;
    if ((await hashOf(ctx.subtle, sh)) !== layout.shards[i]![0]) return false;
  }
  return true;
}

/** The k data shards in an n-slot array (the parity slots empty: decoding needs none). */
function padded(data: readonly Uint8Array[], n: number): (Uint8Array | undefined)[] {
  return [...data, ...new Array<undefined>(n - data.length).fill(undefined)];
}
