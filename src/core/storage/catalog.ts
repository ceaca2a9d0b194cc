import * as v from 'valibot';
import { AbortError } from '../errors.ts';
import {
  openManifest,
  parseManifest,
  winsSameRevision,
  type Manifest,
  type ManifestBody,
} from './manifest.ts';
import { verifyDelete } from './owner.ts';
import { FileDeletedError, FileNotFoundError } from './service-errors.ts';
import type { SignedManifest } from './shard-store.ts';
import { SignalFan } from './signal-fan.ts';
import type { StorageContext } from './storage-context.ts';
import {
  ManifestGetReplySchema,
  ManifestListReplySchema,
  ManifestPutReplySchema,
  type Tombstone,
} from './storage-protocol.ts';

/**
 * The client's view of its files' manifests, which live on the files' holders (every holder
 * keeps the latest one). Reading asks every live node, verifies every answer, and takes the
 * highest revision that this storage key opens; a holder that answered with an older revision
 * is sent the newer one, and one that still has a deleted file is sent the owner's signed
 * delete (so a holder that was offline cannot bring a file back).
 */
interface Seen {
  node: string;
  signed: SignedManifest;
  body: ManifestBody;
}

/** Tombstones of one file kept from one node's listing (they must be the owner's to count). */
const MAX_TOMBSTONES_PER_FILE = 16;

export interface PublishResult {
  /** Stores named by the manifest that took it. */
  taken: number;
  /** Nodes that hold another manifest of the same or a newer revision. */
  conflicts: number;
}

export class Catalog {
  readonly #ctx: StorageContext;
  readonly #cache = new Map<string, Manifest>();

  constructor(ctx: StorageContext) {
    this.#ctx = ctx;
  }

  cached(file: string): Manifest | undefined {
    return this.#cache.get(file);
  }

  forget(file: string): void {
    this.#cache.delete(file);
  }

  /**
   * Sends a manifest to one live node of every store it names, and to `extra` nodes. Returns
   * how many of the stores it names took it, and how many nodes refused it for holding another
   * manifest of the same or a newer revision (someone else re-signed the file meanwhile).
   */
  async publish(man: Manifest, extra: readonly string[] = []): Promise<PublishResult> {
    this.#cache.set(man.body.file, man);
    const nodes = new Set(extra);
    for (const s of man.body.stores) {
      const n = this.#ctx.dir.nodesOf(s)[0];
      if (n !== undefined) nodes.add(n);
    }
    const res = await Promise.allSettled(
      [...nodes].map(async (n) => {
        const r = await this.#ctx.bus.request(n, 'st.manifest.put', man.signed, {
          timeoutMs: this.#ctx.opts.requestTimeoutMs,
        });
        v.parse(ManifestPutReplySchema, r.body);
        return man.body.stores.includes(this.#ctx.dir.storeOf(n) ?? '');
      }),
    );
    return {
      taken: res.filter((r) => r.status === 'fulfilled' && r.value).length,
      conflicts: res.filter(
        (r) =>
          r.status === 'rejected' && (r.reason as { code?: unknown })?.code === 'STALE_MANIFEST',
      ).length,
    };
  }

  /** The latest manifest of `file` that this storage key opens. */
  async load(file: string, signal?: AbortSignal): Promise<Manifest> {
    const seen: Seen[] = [];
    const tombs: Tombstone[] = [];
    const without: string[] = [];
    await this.#ask(signal, async (node, sig) => {
      const r = await this.#request(node, 'st.manifest.get', { file }, sig);
      const body = v.parse(ManifestGetReplySchema, r);
      if (body.deleted) tombs.push(body.deleted);
      if (body.manifest) this.#see(seen, node, body.manifest, file);
      else if (!body.deleted) without.push(node);
    });
    const man = await this.#choose(file, seen, tombs, without);
    if (!man) {
      throw tombs.length > 0 ? new FileDeletedError(file) : new FileNotFoundError(file);
    }
    return man;
  }

  /** Every file of this storage key that a live holder has a manifest for. */
  async list(signal?: AbortSignal): Promise<Manifest[]> {
    const seen = new Map<string, Seen[]>();
    const tombs = new Map<string, Tombstone[]>();
    // Every epoch's files: each epoch root has its own listing tag.
    const tags = this.#ctx.keyRing.all.map((r) => r.tag);
    await this.#ask(signal, async (node, sig) => {
      // One tag failing on a node (a timeout) must not hide the others.
      await Promise.allSettled(tags.map((tag) => this.#listTag(node, tag, sig, seen, tombs)));
    });
    const out = await Promise.all(
      [...seen].map(([file, s]) =>
        this.#choose(file, s, tombs.get(file) ?? []).catch(() => undefined),
      ),
    );
    return out.filter((m): m is Manifest => m !== undefined);
  }

  /** One node's manifests and tombstones under one listing tag, page by page. */
  async #listTag(
    node: string,
    tag: string,
    sig: AbortSignal,
    seen: Map<string, Seen[]>,
    tombs: Map<string, Tombstone[]>,
  ): Promise<void> {
    let after: string | undefined;
    const kept = new Map<string, number>(); // this node's tombstones per file
    for (let page = 0; page < 10_000; page++) {
      const req = { tag, ...(after === undefined ? {} : { after }) };
      const body = v.parse(
        ManifestListReplySchema,
        await this.#request(node, 'st.manifest.list', req, sig),
      );
      for (const t of body.tombstones) {
        // One node's tombstones of a file beyond a few say nothing more (only its owner's
        // count); counted per node, so one node's junk cannot crowd out another's real one.
        const n = kept.get(t.file) ?? 0;
        if (n >= MAX_TOMBSTONES_PER_FILE) continue;
        kept.set(t.file, n + 1);
        const list = tombs.get(t.file);
        if (list) list.push(t);
        else tombs.set(t.file, [t]);
      }
      for (const signed of body.items) {
        const file = this.#fileOf(signed);
        if (file === undefined) continue;
        const list = seen.get(file) ?? [];
        this.#see(list, node, signed, file);
        seen.set(file, list);
      }
      const files = [
        ...body.items.map((s) => this.#fileOf(s) ?? ''),
        ...body.tombstones.map((t) => t.file),
      ];
      if (!body.more || files.length === 0) break;
      const last = files.sort().at(-1);
      // Pages move forward, or the node is not listing honestly: stop asking it.
      if (after !== undefined && (last === undefined || last <= after)) break;
      after = last;
    }
  }

  /** Runs `fn` for this node and every live member, each with its own child of `signal`. */
  async #ask(
    signal: AbortSignal | undefined,
    fn: (node: string, signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const nodes = [this.#ctx.dir.selfNode, ...this.#ctx.peers()];
    const fan = new SignalFan(signal);
    await Promise.allSettled(nodes.map((n) => fan.run((sig) => fn(n, sig))));
    fan.close();
    if (signal?.aborted) throw new AbortError('listing files', signal.reason);
  }

  async #request(node: string, type: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    const opts = { timeoutMs: this.#ctx.opts.requestTimeoutMs, signal };
    return (await this.#ctx.bus.request(node, type, body, opts)).body;
  }

  #fileOf(signed: SignedManifest): string | undefined {
    try {
      return parseManifest(signed).file;
    } catch {
      return undefined;
    }
  }

  #see(list: Seen[], node: string, signed: SignedManifest, file: string): void {
    try {
      const body = parseManifest(signed);
      if (body.file === file) list.push({ node, signed, body });
    } catch {
      // A malformed manifest from a peer is ignored.
    }
  }

  /**
   * Opens the highest revision that verifies; heals stale holders, and the stores it names
   * among `without` (nodes that answered with no manifest: its publish missed them, and they
   * would collect their shards as orphans); honours tombstones.
   */
  async #choose(
    file: string,
    seen: Seen[],
    tombs: Tombstone[],
    without: readonly string[] = [],
  ): Promise<Manifest | undefined> {
    const ctx = this.#ctx;
    // Newest first; of one revision, the one holders keep (winsSameRevision).
    seen.sort(
      (a, b) =>
        b.body.rev - a.body.rev ||
        (winsSameRevision(a.signed, b.signed) ? -1 : winsSameRevision(b.signed, a.signed) ? 1 : 0),
    );
    let firstError: unknown;
    let man: Manifest | undefined;
    for (const s of seen) {
      try {
        man = await openManifest(ctx.subtle, ctx.keyRing, s.signed, ctx.verify);
        break;
      } catch (e) {
        firstError ??= e;
      }
    }
    if (!man) {
      if (firstError !== undefined) throw firstError;
      return undefined;
    }
    for (const t of tombs) {
      if (t.owner === man.body.owner && (await verifyDelete(ctx.verify, t.owner, file, t.sig))) {
        this.#cache.delete(file);
        for (const s of seen) void ctx.bus.request(s.node, 'st.delete', t).catch(() => {});
        throw new FileDeletedError(file);
      }
    }
    const cur = this.#cache.get(file);
    if (cur && cur.body.rev > man.body.rev) man = cur;
    this.#cache.set(file, man);
    const rev = man.body.rev;
    const named = new Set(man.body.stores);
    const stale = seen
      .filter((s) => s.body.rev < rev || (s.body.rev === rev && s.signed.m !== man.signed.m))
      .map((s) => s.node)
      .concat(without.filter((n) => named.has(ctx.dir.storeOf(n) ?? '')));
    if (stale.length > 0) void this.publish(man, stale).catch(() => {});
    return man;
  }
}
