import * as v from 'valibot';
import type { Bus } from '../bus.ts';
import { every, type Clock } from '../clock.ts';
import { parseManifest, verifyManifest, winsSameRevision, type ManifestBody } from './manifest.ts';
import { verifyDelete, type VerifyFn } from './owner.ts';
import { FileDeletedError, NotOwnerError, StaleManifestError } from './service-errors.ts';
import { ShardServer } from './shard-server.ts';
import type { FileEntry, ShardInfo, ShardStore } from './shard-store.ts';
import {
  AuditRequestSchema,
  DeleteRequestSchema,
  HoldRequestSchema,
  InfoRequestSchema,
  ManifestGetReplySchema,
  ManifestGetRequestSchema,
  ManifestListRequestSchema,
  ManifestPutRequestSchema,
  MAX_LIST_ITEMS,
  PutRequestSchema,
  GetRequestSchema,
} from './storage-protocol.ts';

/**
 * The holder side of storage, on every node: serves `st.*` requests from its ShardStore.
 * It never sees plaintext or keys; it checks what it can: each shard's hash on receipt, its
 * quota, and the owner's signature on manifests and deletes (the owner key is bound by the
 * file's first write). A newer manifest tells it which shards are its own; it drops the rest.
 * A periodic sweep collects orphans (shards of a file whose manifest never came, or that the
 * manifest no longer assigns here) after a grace period, and expires old tombstones.
 */
export interface HolderOptions {
  /** Shards without a manifest (or not listed in it) are collected this long after last use. */
  orphanGraceMs: number;
  sweepMs: number;
  /** How long a signed delete is remembered, so the file cannot come back from a stale peer. */
  tombstoneMs: number;
  /** Bytes of incomplete incoming shards held in memory at most. */
  stagingBytes: number;
}

export const defaultHolderOptions: HolderOptions = {
  orphanGraceMs: 30 * 60_000,
  sweepMs: 60_000,
  tombstoneMs: 30 * 24 * 3600_000,
  stagingBytes: 64 * 1024 * 1024,
};

const LIST_PAGE_CHARS = 200_000;

/** The shards a manifest assigns to `store`: "stripe/index" → hash. */
export function assignedTo(body: ManifestBody, store: string): Map<string, string> {
  const at = body.stores.indexOf(store);
  const out = new Map<string, string>();
  if (at < 0) return out;
  body.stripes.forEach((s, stripe) =>
    s.shards.forEach(([hash, where], index) => {
      if (where === at) out.set(`${stripe}/${index}`, hash);
    }),
  );
  return out;
}

/** The file id a manifest text names, to serialise on ('' if unreadable: it is then rejected). */
function fileOf(m: string): string {
  try {
    const f = (JSON.parse(m) as { file?: unknown }).file;
    return typeof f === 'string' ? f : '';
  } catch {
    return '';
  }
}

export class StorageHolder {
  readonly store: ShardStore;
  readonly opts: HolderOptions;
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #verify: VerifyFn;
  readonly shards: ShardServer;
  #stop: (() => void) | undefined;
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly stats = { collected: 0 };

  constructor(
    bus: Bus,
    clock: Clock,
    store: ShardStore,
    subtle: SubtleCrypto,
    verify: VerifyFn,
    opts: Partial<HolderOptions> = {},
  ) {
    this.store = store;
    this.#bus = bus;
    this.#clock = clock;
    this.#verify = verify;
    this.opts = { ...defaultHolderOptions, ...opts };
    const staging = { maxBytes: this.opts.stagingBytes, idleMs: 60_000 };
    const shards = (this.shards = new ShardServer(store, clock, subtle, staging));
    bus.handle('st.info', InfoRequestSchema, async () => ({
      store: store.id,
      quota: store.quotaBytes,
      used: await store.usage(),
    }));
    bus.handle('st.put', PutRequestSchema, async (m) => {
      const whole = await shards.receive(m.body, m.bin);
      if (whole) await this.#serial(m.body.file, () => shards.store(m.body, whole));
      return { quota: store.quotaBytes, used: await store.usage(), done: whole !== undefined };
    });
    bus.handle('st.get', GetRequestSchema, (m) => shards.get(m.body));
    bus.handle('st.audit', AuditRequestSchema, (m) => shards.audit(m.body));
    bus.handle('st.delete', DeleteRequestSchema, (m) =>
      this.#serial(m.body.file, () => this.#delete(m.body)),
    );
    bus.handle('st.hold', HoldRequestSchema, (m) =>
      this.#serial(m.body.file, async () => {
        const e = await store.getFile(m.body.file);
        if (e && e.owner === m.body.owner && !e.deleted) {
          e.touchedAt = clock.now();
          await store.putFile(e);
        }
        return {};
      }),
    );
    bus.handle('st.manifest.put', ManifestPutRequestSchema, (m) =>
      this.#serial(fileOf(m.body.m), () => this.#putManifest(m.body)),
    );
    bus.handle('st.manifest.get', ManifestGetRequestSchema, async (m) => {
      const e = await store.getFile(m.body.file);
      return {
        ...(e?.manifest && !e.deleted ? { manifest: e.manifest.signed } : {}),
        ...(e?.deleted ? { deleted: { file: e.file, owner: e.owner, sig: e.deleted.sig } } : {}),
      };
    });
    bus.handle('st.manifest.list', ManifestListRequestSchema, (m) => this.#list(m.body));
  }

  start(): void {
    this.#stop ??= every(this.#clock, this.opts.sweepMs, () => void this.sweep().catch(() => {}));
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  /** Runs `fn` after every earlier change to the same file: entry updates never interleave. */
  #serial<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(file) ?? Promise.resolve();
    const run = prev.then(fn, fn).finally(() => this.shards.forget(file));
    const tail = run.catch(() => {});
    this.#locks.set(file, tail);
    void tail.then(() => {
      if (this.#locks.get(file) === tail) this.#locks.delete(file);
    });
    return run;
  }

  async #delete(body: v.InferOutput<typeof DeleteRequestSchema>): Promise<{ deleted: boolean }> {
    const entry = await this.store.getFile(body.file);
    const owner = entry?.owner ?? body.owner;
    if (body.owner !== owner) throw new NotOwnerError(`${body.file} belongs to another key`);
    if (!(await verifyDelete(this.#verify, owner, body.file, body.sig))) {
      throw new NotOwnerError(`the delete of ${body.file} is not signed by its owner`);
    }
    if (entry?.deleted) return { deleted: false };
    const had = entry !== undefined;
    await this.store.deleteFile(body.file);
    const now = this.#clock.now();
    const tomb: FileEntry = {
      file: body.file,
      owner,
      touchedAt: now,
      deleted: { sig: body.sig, at: now },
    };
    if (entry?.tag !== undefined) tomb.tag = entry.tag;
    await this.store.putFile(tomb);
    return { deleted: had };
  }

  async #putManifest(
    signed: v.InferOutput<typeof ManifestPutRequestSchema>,
  ): Promise<{ rev: number }> {
    const parsed = parseManifest(signed);
    const entry = await this.store.getFile(parsed.file);
    if (entry?.deleted) throw new FileDeletedError(parsed.file);
    const body = await verifyManifest(signed, this.#verify, entry?.owner ?? parsed.owner);
    const have = entry?.manifest;
    // Two manifests of one revision (two devices of the owner repaired the file at once): every
    // holder keeps the same one (winsSameRevision).
    const same = have?.rev === body.rev;
    if (have && (have.rev > body.rev || (same && !winsSameRevision(signed, have.signed)))) {
      if (same && have.signed.m === signed.m) return { rev: body.rev };
      throw new StaleManifestError(body.file, have.rev, body.rev);
    }
    const mine = assignedTo(body, this.store.id);
    // Shards this manifest does not assign go, except those put since the store took its
    // current manifest (and within the grace period): they may be for a newer manifest still on
    // its way (another device's repair, whose manifest wins over this one); the sweep collects
    // them if none comes.
    const now = this.#clock.now();
    const waiting = (s: ShardInfo): boolean =>
      now - s.storedAt <= this.opts.orphanGraceMs && s.storedAt > (have?.at ?? Infinity);
    let kept = 0;
    for (const s of await this.store.list(body.file)) {
      if (mine.get(keyOf(s)) === s.hash) continue;
      if (waiting(s)) kept++;
      else await this.store.delete(s);
    }
    if (mine.size === 0) {
      // Not (or no longer) a holder of this file.
      if (!entry) return { rev: body.rev };
      if (kept === 0) await this.store.deleteFile(body.file);
      else {
        const orphan: FileEntry = { file: entry.file, owner: entry.owner, touchedAt: now };
        if (entry.tag !== undefined) orphan.tag = entry.tag;
        await this.store.putFile(orphan);
      }
      return { rev: body.rev };
    }
    await this.store.putFile({
      file: body.file,
      owner: body.owner,
      touchedAt: now,
      tag: body.tag,
      manifest: { rev: body.rev, signed: { m: signed.m, sig: signed.sig }, at: now },
    });
    return { rev: body.rev };
  }

  async #list(body: v.InferOutput<typeof ManifestListRequestSchema>) {
    const limit = body.limit ?? MAX_LIST_ITEMS;
    const mine = (await this.store.files())
      .filter((e) => e.tag === body.tag && (e.manifest || e.deleted))
      .filter((e) => body.after === undefined || e.file > body.after)
      .sort((a, b) => (a.file < b.file ? -1 : 1));
    // Pages stay within one data-channel frame unless a single manifest is bigger.
    const page: FileEntry[] = [];
    let chars = 0;
    for (const e of mine) {
      const size = (e.manifest?.signed.m.length ?? 0) + 300;
      if (page.length >= limit || (page.length > 0 && chars + size > LIST_PAGE_CHARS)) break;
      page.push(e);
      chars += size;
    }
    return {
      items: page.filter((e) => !e.deleted && e.manifest).map((e) => e.manifest!.signed),
      tombstones: page
        .filter((e) => e.deleted)
        .map((e) => ({ file: e.file, owner: e.owner, sig: e.deleted!.sig })),
      more: mine.length > page.length,
    };
  }

  /**
   * Asks the live neighbours for `file`'s manifest and takes the newest one that verifies and
   * assigns shards to this store (as if it had been published here); whether one did.
   */
  async #adoptManifest(file: string): Promise<boolean> {
    const found: v.InferOutput<typeof ManifestPutRequestSchema>[] = [];
    await Promise.allSettled(
      this.#bus.neighbours().map(async (node) => {
        const r = await this.#bus.request(node, 'st.manifest.get', { file }, { timeoutMs: 5000 });
        // A peer's answer, checked like any other (a malformed one rejects and is skipped).
        const { manifest } = v.parse(ManifestGetReplySchema, r.body);
        if (manifest) found.push(manifest);
      }),
    );
    // The newest revision decides: an older one that still assigns shards here is stale.
    let best: { body: ManifestBody; signed: (typeof found)[number] } | undefined;
    for (const signed of found) {
      try {
        const body = parseManifest(signed);
        if (body.file === file && (!best || body.rev > best.body.rev)) best = { body, signed };
      } catch {
        // A malformed answer from a peer is ignored.
      }
    }
    if (!best || assignedTo(best.body, this.store.id).size === 0) return false;
    try {
      await this.#putManifest(best.signed); // verifies the owner's signature
      return true;
    } catch {
      return false;
    }
  }

  /** Collects orphans and expired tombstones now; returns how many shards were collected. */
  async sweep(): Promise<number> {
    const now = this.#clock.now();
    let collected = 0;
    for (const { file } of await this.store.files()) {
      collected += await this.#serial(file, () => this.#sweepFile(file, now));
    }
    this.stats.collected += collected;
    return collected;
  }

  async #sweepFile(file: string, now: number): Promise<number> {
    const grace = this.opts.orphanGraceMs;
    let collected = 0;
    const e = await this.store.getFile(file);
    if (e) {
      if (e.deleted) {
        if (now - e.deleted.at > this.opts.tombstoneMs) await this.store.deleteFile(file);
        return 0;
      }
      const shards = await this.store.list(file);
      if (!e.manifest) {
        if (now - e.touchedAt <= grace) return 0;
        // The manifest may have missed this store (a timeout while it was published): a live
        // node that has one assigning these shards saves them.
        if (shards.length > 0 && (await this.#adoptManifest(file))) return 0;
        await this.store.deleteFile(file);
        return shards.length;
      }
      const mine = assignedTo(parseManifest(e.manifest.signed), this.store.id);
      for (const s of shards) {
        if (mine.get(`${s.stripe}/${s.index}`) !== s.hash && now - s.storedAt > grace) {
          await this.store.delete(s);
          collected++;
        }
      }
    }
    return collected;
  }
}

const keyOf = (s: ShardInfo): string => `${s.stripe}/${s.index}`;
