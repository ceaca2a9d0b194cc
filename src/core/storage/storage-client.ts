import * as v from 'valibot';
import { Emitter } from '../emitter.ts';
import { ArgumentError } from '../errors.ts';
import { Catalog } from './catalog.ts';
import { cachedFetch } from './cached-read.ts';
import { readStream } from './downloader.ts';
import { computeHealth, type FileHealth } from './health.ts';
import { deriveFileKeys, type FileKeys } from './keys.ts';
import { rootOfEpoch, type StorageKeyRing } from './key-ring.ts';
import { epochOf, fileIdBytes, openManifest, type Manifest } from './manifest.ts';
import { signDelete } from './owner.ts';
import {
  EpochKeyMissingError,
  FileDeletedError,
  FileNotFoundError,
  HashMismatchError,
  NoHolderError,
  NotOwnerError,
  RepairConflictError,
} from './service-errors.ts';
import { GetReplySchema } from './storage-protocol.ts';
import { inspect, repairFile, type AuditOptions, type RepairReport } from './repair.ts';
import type { StorageContext } from './storage-context.ts';
import { type PutData } from './stripe-source.ts';
import { uploadFile, type PutOptions } from './uploader.ts';

/**
 * The client API of storage, what `wos.files` exposes: put (streaming, encrypted, erasure
 * coded, spread over the mesh), get (a stream, verified and decrypted), list, delete, health
 * and repair (run periodically by StorageService through a RepairScheduler).
 */
export interface FileRef {
  /** File id (base64url, 16 random bytes): what a link or a later `get` needs. */
  readonly id: string;
  readonly name: string;
  readonly size: number;
  readonly type: string;
  /** Clock time of the upload, ms. */
  readonly created: number;
}

export interface FileInfo extends FileRef {
  rev: number;
  k: number;
  n: number;
  stripes: number;
  /** The storage epoch it was written under (its keys derive from that epoch's root). */
  epoch: number;
  /** Stores holding shards (ids). */
  stores: string[];
  /** Live nodes serving those stores now. */
  nodes: string[];
  /** Whether every stripe of this revision is in the local cache (only with a cache). */
  cached?: boolean;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export type FileArg = FileRef | string;

/** Repairs of one file after a conflict with another device's (RepairConflictError). */
const MAX_REPAIR_ATTEMPTS = 3;

export class StorageClient extends Emitter<{
  repaired: RepairReport;
  badShard: { file: string; stripe: number; index: number; store: string };
}> {
  readonly #ctx: StorageContext;
  readonly #catalog: Catalog;
  /** The repair of each file running now (the last one asked for). */
  readonly #repairs = new Map<string, Promise<RepairReport>>();

  constructor(ctx: StorageContext) {
    super();
    this.#ctx = ctx;
    this.#catalog = new Catalog(ctx);
    ctx.onBadShard = (file, stripe, index, store) =>
      this.emit('badShard', { file, stripe, index, store });
  }

  /** The storage root keys in use: files are written under `keyRing.current.epoch`. */
  get keyRing(): StorageKeyRing {
    return this.#ctx.keyRing;
  }

  /**
   * Switches to another key ring (the device was granted or made a storage epoch key): puts
   * from now on use its current epoch, `list` asks for every epoch it holds. A put already
   * running finishes under the epoch it started with. The ring must hold every epoch of the
   * old one (a file is never left without its key).
   */
  setKeyRing(ring: StorageKeyRing): void {
    const lost = this.#ctx.keyRing.all.filter((r) => !ring.all.some((x) => x.epoch === r.epoch));
    if (lost.length > 0) {
      throw new ArgumentError(
        `the new storage key ring lacks epoch ${lost.map((r) => r.epoch).join(', ')}`,
      );
    }
    this.#ctx.keyRing = ring;
  }

  /** Stores `data` under `name`; resolves once the manifest is on the holders. */
  async put(name: string, data: PutData, opts: PutOptions = {}): Promise<FileRef> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 4096) {
      throw new ArgumentError('a file name must be 1 to 4096 characters');
    }
    const man = await uploadFile(this.#ctx, this.#catalog, name, data, opts);
    return refOf(man);
  }

  /** The file's bytes as a stream; rejects early if its manifest cannot be found or opened. */
  async get(ref: FileArg, opts: RequestOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const man = await this.#manifest(ref, opts.signal);
    return await this.#read(man, opts.signal);
  }

  async getBytes(ref: FileArg, opts: RequestOptions = {}): Promise<Uint8Array> {
    const man = await this.#manifest(ref, opts.signal);
    const out = new Uint8Array(man.meta.size);
    let o = 0;
    const reader = (await this.#read(man, opts.signal)).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      out.set(r.value, o);
      o += r.value.length;
    }
    return out;
  }

  async getBlob(ref: FileArg, opts: RequestOptions = {}): Promise<Blob> {
    const man = await this.#manifest(ref, opts.signal);
    const parts: BlobPart[] = [];
    const reader = (await this.#read(man, opts.signal)).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      parts.push(r.value as Uint8Array<ArrayBuffer>);
    }
    return new Blob(parts, { type: man.meta.type });
  }

  /** This key's files on the live holders, newest first. */
  async list(opts: RequestOptions = {}): Promise<FileInfo[]> {
    await this.#ctx.dir.refresh();
    const all = await this.#catalog.list(opts.signal);
    const held = await this.#ctx.cache?.contents().catch(() => undefined);
    return all
      .map((m) => {
        const info = this.#info(m);
        if (!this.#ctx.cache) return info;
        const c = held?.get(m.body.file);
        return { ...info, cached: c?.rev === m.body.rev && c.stripes === m.body.stripes.length };
      })
      .sort((a, b) => b.created - a.created);
  }

  async info(ref: FileArg, opts: RequestOptions = {}): Promise<FileInfo> {
    return this.#info(await this.#manifest(ref, opts.signal));
  }

  /** The store of every shard: [stripe][index] (for views of where a file lives). */
  async locate(ref: FileArg, opts: RequestOptions = {}): Promise<string[][]> {
    const { body } = await this.#manifest(ref, opts.signal);
    return body.stripes.map((s) => s.shards.map(([, at]) => body.stores[at]!));
  }

  /** Deletes the file everywhere with the owner's signature; resolves with the holders reached. */
  async delete(ref: FileArg, opts: RequestOptions = {}): Promise<{ holders: number }> {
    const man = await this.#manifest(ref, opts.signal);
    const ctx = this.#ctx;
    const file = man.body.file;
    if (man.body.owner !== ctx.ownerKey) {
      throw new NotOwnerError(`file ${file} was stored with another owner key; delete it there`);
    }
    const body = { file, owner: ctx.ownerKey, sig: await signDelete(ctx.owner, file) };
    this.#catalog.forget(file);
    const res = await Promise.allSettled(
      [ctx.dir.selfNode, ...ctx.peers()].map((node) =>
        ctx.bus.request(node, 'st.delete', body, { timeoutMs: ctx.opts.requestTimeoutMs }),
      ),
    );
    const holders = res.filter(
      (r) => r.status === 'fulfilled' && (r.value.body as { deleted?: unknown }).deleted === true,
    ).length;
    await ctx.cache?.invalidate(file).catch(() => {});
    return { holders };
  }

  /** Audits the holders (deeply: challenges with random ranges, reading the file) and rates the file. */
  async health(ref: FileArg, opts: AuditOptions = {}): Promise<FileHealth> {
    await this.#ctx.dir.refresh();
    const man = await this.#manifest(ref, opts.signal);
    return computeHealth(man.body.k, man.body.n, await inspect(this.#ctx, man, opts));
  }

  /**
   * Rebuilds lost, corrupt and crowded shards onto other stores; re-signs the manifest. One
   * repair of a file at a time: two at once (the scheduled pass and a user's) would each sign
   * the next revision and the holders would take only one. A repair that waited for another
   * starts from the manifest that one left; when that one did the work, its report is returned.
   */
  async repair(ref: FileArg, opts: AuditOptions = {}): Promise<RepairReport> {
    const file = fileIdOf(ref);
    const before = this.#repairs.get(file);
    const run = (async () => {
      const earlier = await before?.catch(() => undefined);
      await this.#ctx.dir.refresh();
      let report: RepairReport | undefined;
      // A conflict (another device re-signed it meanwhile) is settled by one more repair from
      // the newest revision: its next revision is above both, so every holder takes it.
      for (let attempt = 1; !report; attempt++) {
        const man = await this.#manifest(file, opts.signal);
        try {
          report = await repairFile(this.#ctx, this.#catalog, man, opts);
        } catch (e) {
          if (!(e instanceof RepairConflictError) || attempt === MAX_REPAIR_ATTEMPTS) throw e;
        }
      }
      if (report.rebuilt > 0) this.emit('repaired', report);
      return report.rebuilt === 0 && earlier && earlier.rebuilt > 0 ? earlier : report;
    })();
    this.#repairs.set(file, run);
    try {
      return await run;
    } finally {
      if (this.#repairs.get(file) === run) this.#repairs.delete(file);
    }
  }

  /** Audits every file this key owns and repairs those not healthy. */
  async repairAll(opts: AuditOptions = {}): Promise<RepairReport[]> {
    const out: RepairReport[] = [];
    for (const f of await this.list(opts)) {
      const man = this.#catalog.cached(f.id);
      if (!man || man.body.owner !== this.#ctx.ownerKey) continue;
      try {
        out.push(await this.repair(f.id, opts));
      } catch {
        // One file's failure (e.g. all its holders offline) must not stop the others.
      }
    }
    return out;
  }

  /** The file's latest manifest, verified and opened with this storage key (a share server's view). */
  manifest(ref: FileArg, opts: RequestOptions = {}): Promise<Manifest> {
    return this.#manifest(ref, opts.signal);
  }

  /**
   * The keys of one file version, extractable: only for a share link (never the root). Derived
   * from the id and the storage epoch its manifest names (`epochOf(man.body)`) alone (no
   * network); `manifest` tells whether the file exists. EPOCH_KEY_MISSING without that epoch.
   */
  async shareKeys(file: string, epoch: number): Promise<FileKeys> {
    const id = fileIdBytes(file);
    const { root } = rootOfEpoch(this.#ctx.keyRing, epoch, file);
    return deriveFileKeys(this.#ctx.subtle, root, id, { extractable: true });
  }

  /**
   * Bytes [from, from + len) of sealed shard (stripe, index) of `man`, as a holder keeps them
   * (ciphertext), from a live node of its store: what a share server relays. Not checked here:
   * the reader checks the whole shard against the manifest's hash.
   */
  async sealedPiece(
    man: Manifest,
    at: { stripe: number; index: number },
    from: number,
    len: number,
    opts: RequestOptions = {},
  ): Promise<Uint8Array> {
    const { body } = man;
    const layout = body.stripes[at.stripe];
    const slot = layout?.shards[at.index];
    if (!layout || !slot || from + len > layout.size) {
      throw new ArgumentError(`no bytes ${from}+${len} of shard ${at.stripe}/${at.index}`);
    }
    const ctx = this.#ctx;
    const store = body.stores[slot[1]]!;
    const node = ctx.dir.nodesOf(store)[0];
    if (node === undefined) throw new NoHolderError(`store ${store} is offline`);
    const key = { file: body.file, stripe: at.stripe, index: at.index };
    const r = await ctx.bus.request(
      node,
      'st.get',
      { ...key, from, len },
      {
        timeoutMs: ctx.opts.shardTimeoutMs,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
    if (v.parse(GetReplySchema, r.body).size !== layout.size || r.bin?.length !== len) {
      throw new HashMismatchError(
        `shard ${at.stripe}/${at.index} from store ${store} (wrong size)`,
      );
    }
    return r.bin;
  }

  /** The latest manifest on the live holders (or in the cache, if newer). */
  async #manifest(ref: FileArg, signal?: AbortSignal): Promise<Manifest> {
    const file = fileIdOf(ref);
    const cache = this.#ctx.cache;
    if (!cache) return this.#catalog.load(file, signal);
    try {
      return await this.#catalog.load(file, signal);
    } catch (e) {
      // Deleted: drop the local copy. Not found (no live node has it): the cached revision, if
      // this storage key still opens it (the signature and sealed part are checked again).
      if (!(e instanceof FileNotFoundError)) {
        if (e instanceof FileDeletedError) await cache.invalidate(file).catch(() => {});
        throw e;
      }
      const c = await cache.getManifest(file).catch(() => undefined);
      if (!c) throw e;
      const ctx = this.#ctx;
      const man = await openManifest(ctx.subtle, ctx.keyRing, c.signed, ctx.verify).catch(
        (err: unknown) => {
          // Without the epoch's key the copy is not bad, only closed to this device.
          if (err instanceof EpochKeyMissingError) throw err;
          void cache.invalidate(file).catch(() => {});
          return undefined;
        },
      );
      if (man?.body.file !== file) throw e;
      return man;
    }
  }

  /** The file's plaintext stream, through the local cache if there is one. */
  async #read(man: Manifest, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const cache = this.#ctx.cache;
    if (!cache) return readStream(this.#ctx, man, signal);
    // A file larger than the whole budget would only push itself out while being read.
    const sealed = man.body.stripes.reduce((a, s) => a + s.size * man.body.k, 0);
    if (sealed > cache.budgetBytes) return readStream(this.#ctx, man, signal);
    // Another revision's entries are stale now.
    await cache.invalidate(man.body.file, man.body.rev).catch(() => {});
    return readStream(this.#ctx, man, signal, cachedFetch(cache));
  }

  #info(m: Manifest): FileInfo {
    const stores = [...new Set(m.body.stores)];
    return {
      ...refOf(m),
      rev: m.body.rev,
      k: m.body.k,
      n: m.body.n,
      stripes: m.body.stripes.length,
      epoch: epochOf(m.body),
      stores,
      nodes: stores.flatMap((s) => this.#ctx.dir.nodesOf(s).slice(0, 1)),
    };
  }
}

function refOf(m: Manifest): FileRef {
  return {
    id: m.body.file,
    name: m.meta.name,
    size: m.meta.size,
    type: m.meta.type,
    created: m.meta.created,
  };
}

/** The id of a file reference or id (ArgumentError when it is neither). */
function fileIdOf(ref: FileArg): string {
  const file = typeof ref === 'string' ? ref : (ref as FileRef | undefined)?.id;
  if (typeof file !== 'string' || !/^[A-Za-z0-9_-]{22}$/.test(file)) {
    throw new ArgumentError('expected a file reference or a 22-character file id');
  }
  return file;
}
