import { WithAttachment, type Incoming } from '../bus.ts';
import type { Clock } from '../clock.ts';
import { InvalidMessageError, WosError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { Manifest } from '../storage/manifest.ts';
import { FileDeletedError, FileNotFoundError } from '../storage/service-errors.ts';
import { ShareError } from './share-errors.ts';
import {
  ShareManifestRequestSchema,
  ShareShardRequestSchema,
  type ShareShardRequest,
} from './share-protocol.ts';
import type { ShareRecord, ShareRecords } from './share-records.ts';

/**
 * The owner's side of one share link: a second mesh node of the owner's device, on the share's
 * rendezvous mesh (whose key only link holders can derive), answering `sh.manifest` and
 * `sh.shard` for the shared file only. It reads the signed manifest and sealed shard pieces
 * from the owner's personal mesh through the storage client and forwards them: ciphertext and
 * the signed manifest (its private part sealed with the meta key) — never plaintext or keys.
 *
 * Every request is checked against the owner's record of the share: not revoked, not expired,
 * and — for a guest session's first manifest request — fewer downloads than allowed. A guest
 * session (a node id on the rendezvous mesh, proven by its link handshake) counts as one
 * download when it first fetches the manifest; its later manifest and shard requests do not
 * count again and go on after the limit is reached, but stop at once on revocation or expiry.
 * Requests are taken only over a direct link (a relayed request could name another session).
 */
export interface ShareSource {
  /** The file's latest manifest, verified and opened by the owner. */
  manifest(file: string, opts?: { signal?: AbortSignal }): Promise<Manifest>;
  /** Bytes of a sealed shard as a holder keeps them. */
  sealedPiece(
    man: Manifest,
    at: { stripe: number; index: number },
    from: number,
    len: number,
  ): Promise<Uint8Array>;
}

export interface ShareServerOptions {
  /** A manifest loaded for serving pieces is reloaded after this long (repairs move shards). */
  manifestMaxAgeMs: number;
  /** Guest sessions remembered (oldest forgotten first: a forgotten session must refetch). */
  maxSessions: number;
}

const defaults: ShareServerOptions = { manifestMaxAgeMs: 30_000, maxSessions: 10_000 };

/** Why the record refuses a request now, if it does (`started`: the session was counted). */
export function shareRefusal(
  r: ShareRecord | undefined,
  now: number,
  started: boolean,
): ShareError | undefined {
  if (!r) return new ShareError('SHARE_NOT_FOUND');
  if (r.revoked) return new ShareError('SHARE_REVOKED');
  if (r.expiresAt !== undefined && now >= r.expiresAt) return new ShareError('SHARE_EXPIRED');
  if (!started && r.maxDownloads !== undefined && r.downloads >= r.maxDownloads) {
    return new ShareError('SHARE_LIMIT_REACHED', `${r.downloads} of ${r.maxDownloads}`);
  }
  return undefined;
}

/** Codes of storage failures a guest may see (messages are replaced: no personal-mesh ids). */
const PASSED_CODES = new Set(['NO_SHARD', 'NO_HOLDER', 'HASH_MISMATCH', 'TIMEOUT', 'UNREACHABLE']);

export class ShareServer {
  readonly node: MeshNode;
  readonly shareId: string;
  readonly file: string;
  readonly stats = { manifests: 0, pieces: 0, refused: {} as Record<string, number> };
  readonly #records: ShareRecords;
  readonly #source: ShareSource;
  readonly #clock: Clock;
  readonly #opts: ShareServerOptions;
  readonly #sessions = new Set<string>();
  #man: { at: number; man: Promise<Manifest> } | undefined;

  /** Registers the handlers on `node` (create it, then this, then start the node). */
  constructor(
    node: MeshNode,
    share: { id: string; file: string },
    records: ShareRecords,
    source: ShareSource,
    opts: Partial<ShareServerOptions> = {},
  ) {
    this.node = node;
    this.shareId = share.id;
    this.file = share.file;
    this.#records = records;
    this.#source = source;
    this.#clock = node.clock;
    this.#opts = { ...defaults, ...opts };
    node.bus.handle('sh.manifest', ShareManifestRequestSchema, (m) =>
      this.#refusing(this.#manifestFor(m)),
    );
    node.bus.handle('sh.shard', ShareShardRequestSchema, (m) => this.#refusing(this.#piece(m)));
  }

  /** Leaves the rendezvous mesh. */
  close(): Promise<void> {
    return this.node.close({ goodbye: true });
  }

  async #refusing<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (e) {
      const code = e instanceof WosError ? e.code : 'HANDLER_FAILED';
      this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
      throw e;
    }
  }

  #direct(m: Incoming<{ share: string }>): void {
    if (m.from !== m.via) throw new InvalidMessageError('share requests are taken only directly');
    if (m.body.share !== this.shareId) throw new ShareError('SHARE_NOT_FOUND');
  }

  async #manifestFor(m: Incoming<{ share: string }>): Promise<{ manifest: Manifest['signed'] }> {
    this.#direct(m);
    const started = this.#sessions.has(m.from);
    const early = shareRefusal(await this.#records.get(this.shareId), this.#clock.now(), started);
    if (early) throw early;
    this.#man = undefined;
    const man = await this.#manifest();
    if (!started) {
      // Counted once the manifest is at hand, checked again atomically with the count.
      let refused: ShareError | undefined;
      const now = this.#clock.now();
      const after = await this.#records.update(this.shareId, (r) => {
        refused = shareRefusal(r, now, false);
        return refused ? undefined : { ...r, downloads: r.downloads + 1 };
      });
      refused ??= after ? undefined : new ShareError('SHARE_NOT_FOUND');
      if (refused) throw refused;
      this.#sessions.add(m.from);
      if (this.#sessions.size > this.#opts.maxSessions) {
        this.#sessions.delete(this.#sessions.values().next().value!);
      }
    }
    this.stats.manifests++;
    return { manifest: { m: man.signed.m, sig: man.signed.sig } };
  }

  async #piece(m: Incoming<ShareShardRequest>): Promise<WithAttachment> {
    this.#direct(m);
    if (!this.#sessions.has(m.from)) throw new ShareError('SHARE_NO_SESSION');
    const refused = shareRefusal(await this.#records.get(this.shareId), this.#clock.now(), true);
    if (refused) throw refused;
    const man = await this.#manifest();
    const { stripe, index, from, len } = m.body;
    const layout = man.body.stripes[stripe];
    if (!layout || index >= man.body.n || from + len > layout.size) {
      throw new InvalidMessageError(`no bytes ${from}+${len} of shard ${stripe}/${index}`);
    }
    try {
      const bytes = await this.#source.sealedPiece(man, { stripe, index }, from, len);
      this.stats.pieces++;
      return new WithAttachment({ size: layout.size }, bytes);
    } catch (e) {
      this.#man = undefined;
      const code = e instanceof WosError && PASSED_CODES.has(e.code) ? e.code : 'FILE_UNAVAILABLE';
      throw new WosError(code, `shard ${stripe}/${index} cannot be read from the owner now`);
    }
  }

  /** The file's manifest from the personal mesh (kept a little while for pieces). */
  async #manifest(): Promise<Manifest> {
    const now = this.#clock.now();
    if (!this.#man || now - this.#man.at > this.#opts.manifestMaxAgeMs) {
      const man = this.#source.manifest(this.file);
      man.catch(() => {});
      this.#man = { at: now, man };
    }
    try {
      const man = await this.#man.man;
      if (man.body.file !== this.file) throw new FileNotFoundError(this.file);
      return man;
    } catch (e) {
      this.#man = undefined;
      if (e instanceof WosError && e.code === 'FILE_DELETED') throw new FileDeletedError(this.file);
      throw new FileNotFoundError(this.file);
    }
  }
}
