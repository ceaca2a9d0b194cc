import {
  decodeShareLink,
  encodeShareLink,
  shareRendezvousKey,
  SHARE_ID_BYTES,
} from '../account/share-link.ts';
import { fromBase64Url, toBase64Url } from '../bytes.ts';
import { every, type Clock } from '../clock.ts';
import { ArgumentError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { FileKeys } from '../storage/keys.ts';
import { epochOf, type Manifest } from '../storage/manifest.ts';
import type { FileArg } from '../storage/storage-client.ts';
import { ShareError } from './share-errors.ts';
import type { ShareRecord, ShareRecords } from './share-records.ts';
import { ShareServer, type ShareServerOptions, type ShareSource } from './share-server.ts';

/**
 * The owner's share links: `share(ref, { expiresAt, maxDownloads })` mints a share id, puts the
 * file version's content and meta keys (never the storage root) into a `…/#/s/<code>` link,
 * records the share, and serves it — a ShareServer on the share's rendezvous mesh, a second
 * mesh node of this device. `revoke(link)` marks the record revoked; the server stays a while
 * to tell guests SHARE_REVOKED (and an expired share's server SHARE_EXPIRED) instead of leaving
 * them waiting, then leaves (`endedRetentionMs`). `start()` serves every recorded share again
 * after a reload and retries the ones that could not start.
 */
export interface ShareFiles extends ShareSource {
  manifest(ref: FileArg, opts?: { signal?: AbortSignal }): Promise<Manifest>;
  /** The file version's keys, extractable (for the link only), from its storage epoch's root. */
  shareKeys(file: string, epoch: number): Promise<FileKeys>;
}

export interface ShareHostComponents {
  files: ShareFiles;
  records: ShareRecords;
  subtle: SubtleCrypto;
  random: (n: number) => Uint8Array;
  clock: Clock;
  /** A new mesh node of this device on `meshKey`, not started yet (handlers come first). */
  joinMesh(meshKey: string): Promise<MeshNode>;
}

export interface ShareHostOptions {
  /** What comes before `#/s/<code>` in a link, e.g. `https://wos.example/` ('' by default). */
  linkBase: string;
  /** A revoked or expired share is still answered (with its error) this long, ms. */
  endedRetentionMs: number;
  /** Servers past retention are closed, and failed ones retried, this often, ms. */
  tickMs: number;
  server?: Partial<ShareServerOptions>;
}

export interface ShareOptions {
  /** Clock time (ms) from which the link is refused; kept in whole seconds. */
  expiresAt?: number | undefined;
  /** Guest sessions allowed to start a download (≥ 1). */
  maxDownloads?: number | undefined;
}

const defaults: ShareHostOptions = {
  linkBase: '',
  endedRetentionMs: 7 * 24 * 3600_000,
  tickMs: 60_000,
};

export class ShareHost {
  readonly #c: ShareHostComponents;
  readonly #opts: ShareHostOptions;
  readonly #servers = new Map<string, Promise<ShareServer | undefined>>();
  #stopTick: (() => void) | undefined;
  #stopped = false;

  constructor(c: ShareHostComponents, opts: Partial<ShareHostOptions> = {}) {
    this.#c = c;
    this.#opts = { ...defaults, ...opts };
  }

  /** Shares the file: resolves with the link once this device serves it. */
  async share(ref: FileArg, opts: ShareOptions = {}): Promise<string> {
    const { clock, subtle, records, files } = this.#c;
    const now = clock.now();
    const { expiresAt, maxDownloads } = opts;
    if (expiresAt !== undefined && (!Number.isFinite(expiresAt) || expiresAt <= now)) {
      throw new ArgumentError('expiresAt must be a time in the future (ms since 1970)');
    }
    if (maxDownloads !== undefined && (!Number.isSafeInteger(maxDownloads) || maxDownloads < 1)) {
      throw new ArgumentError('maxDownloads must be a whole number ≥ 1');
    }
    const man = await files.manifest(ref);
    const epoch = epochOf(man.body);
    const keys = await files.shareKeys(man.body.file, epoch);
    const shareId = this.#c.random(SHARE_ID_BYTES);
    const record: ShareRecord = {
      id: toBase64Url(shareId),
      file: man.body.file,
      ...(epoch > 0 ? { epoch } : {}),
      created: now,
      downloads: 0,
      revoked: false,
      ...(expiresAt === undefined ? {} : { expiresAt: Math.floor(expiresAt / 1000) * 1000 }),
      ...(maxDownloads === undefined ? {} : { maxDownloads }),
    };
    // The link names the manifest's signer, so a guest can refuse anything else it is served.
    const code = await encodeShareLink(subtle, {
      keys,
      owner: man.body.owner,
      shareId,
      expiresAt: record.expiresAt,
    });
    await records.add(record);
    await this.#serve(record, keys);
    return `${this.#opts.linkBase}#/s/${code}`;
  }

  /** Revokes a link this device made (any form of it: URL, fragment or code). */
  async revoke(link: string): Promise<void> {
    const decoded = await decodeShareLink(this.#c.subtle, link);
    const id = toBase64Url(decoded.shareId);
    const file = toBase64Url(decoded.fileId);
    const now = this.#c.clock.now();
    const after = await this.#c.records.update(id, (r) =>
      r.file !== file || r.revoked ? undefined : { ...r, revoked: true, revokedAt: now },
    );
    if (after?.file !== file) throw new ShareError('SHARE_NOT_FOUND', 'not made on this device');
  }

  /** This device's shares (the owner's view: downloads, expiry, revoked). */
  list(): Promise<ShareRecord[]> {
    return this.#c.records.list();
  }

  /** Serves every recorded share not past retention; checks again every `tickMs`. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#stopTick ??= every(this.#c.clock, this.#opts.tickMs, () => void this.#tick());
    await this.#tick();
  }

  /** Leaves every rendezvous mesh. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopTick?.();
    this.#stopTick = undefined;
    const all = [...this.#servers.values()];
    this.#servers.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.close()));
  }

  /** The servers running now (share id → server). */
  async servers(): Promise<Map<string, ShareServer>> {
    const out = new Map<string, ShareServer>();
    for (const [id, p] of this.#servers) {
      const s = await p.catch(() => undefined);
      if (s) out.set(id, s);
    }
    return out;
  }

  #ended(r: ShareRecord, now: number): boolean {
    const end = r.revoked ? (r.revokedAt ?? 0) : r.expiresAt;
    return end !== undefined && now - end > this.#opts.endedRetentionMs;
  }

  async #tick(): Promise<void> {
    const now = this.#c.clock.now();
    for (const r of await this.#c.records.list()) {
      const running = this.#servers.get(r.id);
      if (this.#ended(r, now)) {
        if (running) {
          this.#servers.delete(r.id);
          await (await running.catch(() => undefined))?.close();
        }
      } else if (!running) {
        await this.#serve(r).catch(() => {});
      }
    }
  }

  /** Joins the share's rendezvous mesh and answers there (retried by the tick on failure). */
  #serve(r: ShareRecord, keys?: FileKeys): Promise<ShareServer | undefined> {
    const have = this.#servers.get(r.id);
    if (have) return have;
    const run = (async () => {
      const k = keys ?? (await this.#c.files.shareKeys(r.file, r.epoch ?? 0));
      const meshKey = await shareRendezvousKey(this.#c.subtle, k, fromBase64Url(r.id));
      const node = await this.#c.joinMesh(meshKey);
      const server = new ShareServer(node, r, this.#c.records, this.#c.files, this.#opts.server);
      if (this.#stopped) {
        await node.close({ goodbye: false });
        return undefined;
      }
      await node.start();
      return server;
    })();
    this.#servers.set(r.id, run);
    run.catch(() => {
      if (this.#servers.get(r.id) === run) this.#servers.delete(r.id);
    });
    return run;
  }
}
