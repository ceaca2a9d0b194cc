import { deviceOfNode } from '../identity.ts';
import { auditFile, challengeStripe, type ShardState } from './audit.ts';
import type { Catalog } from './catalog.ts';
import { completeStripe, fetchStripe } from './downloader.ts';
import { computeHealth, type FileHealth } from './health.ts';
import { sealManifestMeta, signManifest, type Manifest, type ManifestBody } from './manifest.ts';
import { placeShards } from './placement.ts';
import { NoHolderError, NotOwnerError, RepairConflictError } from './service-errors.ts';
import { putShard } from './shard-io.ts';
import type { ShardKey } from './shard-store.ts';
import { SignalFan } from './signal-fan.ts';
import type { StorageContext } from './storage-context.ts';

/**
 * Repair: audit every holder of a file; for each stripe with shards that are missing, corrupt,
 * on an offline store, or crowded onto a store that holds another shard of the stripe, fetch k
 * verified shards, rebuild the stripe (Reed-Solomon is deterministic: a rebuilt shard has the
 * hash the manifest already lists) and put the shards on other stores chosen as at upload.
 * Then re-sign the manifest with a new revision and send it to the new and the old holders;
 * holders drop the shards it no longer assigns to them.
 */
export interface RepairReport {
  file: string;
  before: FileHealth;
  after: FileHealth;
  /** Shards written to new stores. */
  rebuilt: number;
  /** Manifest revision after the repair. */
  rev: number;
  /** Stripes with fewer than k good shards: nothing could be done for them now. */
  unrecoverable: number[];
}

export interface AuditOptions {
  signal?: AbortSignal;
  /** Also rebuild each stripe and challenge every holder with a random range (reads the file). */
  deep?: boolean;
}

/** The state of every shard, audited (deeply if asked). */
export async function inspect(
  ctx: StorageContext,
  man: Manifest,
  opts: AuditOptions = {},
): Promise<ShardState[][]> {
  const states = await auditFile(ctx, man, opts.signal);
  if (opts.deep) {
    for (let s = 0; s < states.length; s++) {
      if (states[s]!.filter((x) => x.status === 'ok').length < man.body.k) continue;
      const full = await completeStripe(ctx, man, await fetchStripe(ctx, man, s, opts.signal));
      await challengeStripe(ctx, man, s, full, states[s]!, opts.signal);
    }
  }
  return states;
}

/** Stripes repaired at once (each holds its n shards in memory while it is rebuilt). */
const STRIPES_AT_ONCE = 3;

/**
 * Runs `fn` over `items`, `width` at a time. After a failure no new item starts; the first
 * error is thrown once the running ones have settled, so nothing runs on after the caller.
 */
async function eachAtOnce<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  if (failed) throw failed.error;
}

/** Indices of a stripe's shards that need a new store (bad, offline or crowded). */
function targetsOf(states: readonly ShardState[]): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  states.forEach((st, i) => {
    if (st.status !== 'ok' || seen.has(st.store)) out.push(i);
    else seen.add(st.store);
  });
  return out;
}

export async function repairFile(
  ctx: StorageContext,
  catalog: Catalog,
  man: Manifest,
  opts: AuditOptions = {},
): Promise<RepairReport> {
  const { k, n, file } = man.body;
  const states = await inspect(ctx, man, opts);
  const before = computeHealth(k, n, states);
  const report = {
    file,
    before,
    after: before,
    rebuilt: 0,
    rev: man.body.rev,
    unrecoverable: [] as number[],
  };
  if (states.every((st) => targetsOf(st).length === 0)) return report;
  if (man.body.owner !== ctx.ownerKey) {
    throw new NotOwnerError(`file ${file}: only the owner's key can re-sign its manifest`);
  }
  const next = states.map((st) => st.map((x) => ({ ...x })));
  const todo: { s: number; targets: number[] }[] = [];
  states.forEach((st, s) => {
    const targets = targetsOf(st);
    if (targets.length === 0) return;
    if (st.filter((x) => x.status === 'ok').length < k) report.unrecoverable.push(s);
    else todo.push({ s, targets });
  });
  // A few stripes at once: one stripe's fetch, rebuild and put each leave the others idle.
  await eachAtOnce(todo, STRIPES_AT_ONCE, async ({ s, targets }) => {
    const full = await completeStripe(ctx, man, await fetchStripe(ctx, man, s, opts.signal));
    // Awaited first: `x += await …` would read `x` before the await and lose the others' counts.
    const placed = await replace(ctx, man, s, full, targets, next[s]!, opts.signal);
    report.rebuilt += placed;
  });
  if (report.rebuilt === 0) return report;
  const updated = await resign(ctx, man, next);
  const newStores = new Set(updated.body.stores);
  const oldHolders = man.body.stores
    .filter((s) => !newStores.has(s))
    .flatMap((s) => ctx.dir.nodesOf(s).slice(0, 1));
  const published = await catalog.publish(updated, oldHolders);
  if (published.conflicts > 0) {
    // Another node of this owner re-signed the file at the same time (a repair on another
    // device): holders now disagree. The caller repairs again from the newest revision.
    throw new RepairConflictError(file, published.conflicts);
  }
  if (published.taken === 0) {
    throw new NoHolderError(`no holder took the repaired manifest of ${file}`);
  }
  return { ...report, after: computeHealth(k, n, next), rev: updated.body.rev };
}

/** Puts the rebuilt shards `targets` of stripe `s` on new stores; updates `states`. */
async function replace(
  ctx: StorageContext,
  man: Manifest,
  s: number,
  full: readonly Uint8Array[],
  targets: readonly number[],
  states: ShardState[],
  signal?: AbortSignal,
): Promise<number> {
  const hashes = man.body.stripes[s]!.shards.map(([h]) => h);
  const bytes = full[0]!.length;
  const keep = states
    .filter((x, i) => x.status === 'ok' && !targets.includes(i))
    .map((x) => x.store);
  const avoid = new Set([...keep, ...targets.map((i) => states[i]!.store)]);
  const devices = keep.flatMap((st) => ctx.dir.nodesOf(st).slice(0, 1).map(deviceOfNode));
  let placed = 0;
  const fan = new SignalFan(signal);
  const put = (store: string, key: ShardKey): Promise<void> =>
    fan.run((sig) => putShard(ctx, store, key, full[key.index]!, hashes[key.index]!, sig));
  await Promise.all(
    targets.map(async (i) => {
      const key = { file: man.body.file, stripe: s, index: i };
      for (;;) {
        const [c] = placeShards(ctx.dir.candidates(), 1, {
          bytes,
          avoidStores: avoid,
          usedDevices: devices,
        });
        if (!c) break;
        avoid.add(c.store);
        devices.push(c.device);
        try {
          await put(c.store, key);
          states[i] = { store: c.store, status: 'ok' };
          placed++;
          return;
        } catch {
          // Try the next store.
        }
      }
      // No other store: a bad shard is rewritten where it was, or else waits locally
      // (crowded) rather than stay lost. A good crowded shard just stays.
      const was = states[i]!;
      if (was.status === 'ok') return;
      const fallback = was.status === 'offline' ? [] : [was.store];
      for (const store of [...fallback, ctx.dir.selfStore]) {
        try {
          await put(store, key);
          states[i] = { store, status: 'ok' };
          placed++;
          return;
        } catch {
          // Left as it is if nothing works; the next repair tries again.
        }
      }
    }),
  ).finally(() => fan.close());
  return placed;
}

/** The manifest with the new stores, next revision, resealed and re-signed. */
async function resign(
  ctx: StorageContext,
  man: Manifest,
  states: ShardState[][],
): Promise<Manifest> {
  const rev = man.body.rev + 1;
  const stores: string[] = [];
  const at = (store: string): number => {
    let i = stores.indexOf(store);
    if (i < 0) i = stores.push(store) - 1;
    return i;
  };
  const stripes = man.body.stripes.map((l, s) => ({
    size: l.size,
    shards: l.shards.map(([h], i) => [h, at(states[s]![i]!.store)] as [string, number]),
  }));
  const meta = { ...man.meta, rev };
  const body: ManifestBody = {
    ...man.body,
    rev,
    stores,
    stripes,
    meta: await sealManifestMeta(ctx.subtle, man.keys, ctx.random, meta),
  };
  return { body, meta, signed: await signManifest(body, ctx.owner), keys: man.keys };
}
