import type * as v from 'valibot';
import { WithAttachment } from '../bus.ts';
import { concatBytes, toBase64Url } from '../bytes.ts';
import type { Clock } from '../clock.ts';
import { ArgumentError } from '../errors.ts';
import { sha256 } from '../identity.ts';
import { tryFromB64 } from './owner.ts';
import {
  FileDeletedError,
  HashMismatchError,
  NotOwnerError,
  QuotaFullError,
  ShardNotFoundError,
} from './service-errors.ts';
import { ShardStaging } from './shard-staging.ts';
import { describeShard, shardKeyString, type ShardKey, type ShardStore } from './shard-store.ts';
import type { AuditRequestSchema, GetRequestSchema, PutRequestSchema } from './storage-protocol.ts';

/**
 * A holder's shard traffic: `st.put` pieces are assembled (shard-staging.ts), the whole shard
 * is checked against its hash, its owner and the quota, then stored; `st.get` serves byte
 * ranges of a shard (the few shards being read now are kept in memory for a moment, so a
 * shard read in pieces is read from the store once); `st.audit` hashes shards or ranges.
 */
const RECENT_SHARDS = 8;
const RECENT_MS = 5000;

export class ShardServer {
  readonly #store: ShardStore;
  readonly #clock: Clock;
  readonly #subtle: SubtleCrypto;
  readonly #staging: ShardStaging;
  readonly #recent = new Map<string, { file: string; bytes: Uint8Array; at: number }>();
  /** Store reads in progress: the pieces a reader asks for at once share one read. */
  readonly #reading = new Map<string, { file: string; read: Promise<Uint8Array | undefined> }>();
  readonly stats = { stored: 0, served: 0, rejected: 0 };

  constructor(
    store: ShardStore,
    clock: Clock,
    subtle: SubtleCrypto,
    staging: { maxBytes: number; idleMs: number },
  ) {
    this.#store = store;
    this.#clock = clock;
    this.#subtle = subtle;
    this.#staging = new ShardStaging(() => clock.now(), staging);
  }

  /** Takes one piece; returns the whole shard when this piece completes it. */
  async receive(
    body: v.InferOutput<typeof PutRequestSchema>,
    bin: Uint8Array | undefined,
  ): Promise<Uint8Array | undefined> {
    const what = describeShard(body);
    if (!bin || bin.length === 0) throw new ArgumentError(`${what}: no bytes attached`);
    if (body.at === 0) {
      // Fail fast, before the holder buffers a shard it could not keep.
      const used = await this.#store.usage();
      if (used + body.size > this.#store.quotaBytes) {
        throw QuotaFullError.forShard(body.size, used, this.#store.quotaBytes);
      }
    }
    return this.#staging.add(body, body.size, body.hash, body.at, bin);
  }

  /** Checks and stores a complete shard (run under the holder's per-file lock). */
  async store(body: v.InferOutput<typeof PutRequestSchema>, bytes: Uint8Array): Promise<void> {
    if (toBase64Url(await sha256(this.#subtle, bytes)) !== body.hash) {
      this.stats.rejected++;
      throw new HashMismatchError(`${describeShard(body)} as received`);
    }
    const now = this.#clock.now();
    const entry = await this.#store.getFile(body.file);
    if (entry?.deleted) throw new FileDeletedError(body.file);
    if (entry && entry.owner !== body.owner) throw new NotOwnerError(`${body.file} is bound`);
    await this.#store.putFile({
      ...(entry ?? { file: body.file, owner: body.owner }),
      touchedAt: now,
    });
    try {
      const key = { file: body.file, stripe: body.stripe, index: body.index };
      await this.#store.put({ ...key, size: bytes.length, hash: body.hash, storedAt: now }, bytes);
    } catch (e) {
      if (!entry) await this.#store.deleteFile(body.file);
      throw e;
    }
    this.forget(body.file);
    this.stats.stored++;
  }

  async get(body: v.InferOutput<typeof GetRequestSchema>): Promise<WithAttachment> {
    const bytes = await this.#read(body);
    if (body.from >= bytes.length) {
      throw new ArgumentError(
        `${describeShard(body)} has ${bytes.length} bytes, asked from ${body.from}`,
      );
    }
    if (body.from + body.len >= bytes.length) this.stats.served++;
    return new WithAttachment({ size: bytes.length }, bytes.slice(body.from, body.from + body.len));
  }

  async audit(
    body: v.InferOutput<typeof AuditRequestSchema>,
  ): Promise<{ results: (string | null)[] }> {
    const nonce = body.nonce === undefined ? new Uint8Array(0) : tryFromB64(body.nonce);
    if (!nonce) throw new ArgumentError('audit nonce is not base64url');
    // Each distinct item is read and hashed once: a request naming one shard thousands of times
    // costs one hash, not thousands.
    const done = new Map<string, string | null>();
    const results: (string | null)[] = [];
    for (const it of body.items) {
      const key = `${it.stripe}/${it.index}/${it.from ?? ''}/${it.len ?? ''}`;
      let r = done.get(key);
      if (r === undefined) {
        r = await this.#auditOne(body.file, it, nonce);
        done.set(key, r);
      }
      results.push(r);
    }
    return { results };
  }

  async #auditOne(
    file: string,
    it: v.InferOutput<typeof AuditRequestSchema>['items'][number],
    nonce: Uint8Array,
  ): Promise<string | null> {
    const bytes = await this.#store.get({ file, stripe: it.stripe, index: it.index });
    if (!bytes) return null;
    const from = Math.min(it.from ?? 0, bytes.length);
    const to = it.len === undefined ? bytes.length : Math.min(bytes.length, from + it.len);
    const range = bytes.subarray(from, to);
    const data = nonce.length ? concatBytes(nonce, range) : range;
    return toBase64Url(await sha256(this.#subtle, data));
  }

  /** Drops a file's shards from the read cache (after they changed). */
  forget(file: string): void {
    for (const [k, r] of this.#recent) if (r.file === file) this.#recent.delete(k);
    for (const [k, r] of this.#reading) if (r.file === file) this.#reading.delete(k);
  }

  async #read(key: ShardKey): Promise<Uint8Array> {
    const now = this.#clock.now();
    for (const [k, r] of this.#recent) if (now - r.at > RECENT_MS) this.#recent.delete(k);
    const k = shardKeyString(key);
    const hit = this.#recent.get(k);
    if (hit) return hit.bytes;
    let pending = this.#reading.get(k);
    if (!pending) {
      const read = this.#store.get(key);
      pending = { file: key.file, read };
      this.#reading.set(k, pending);
      const done = (): void => {
        if (this.#reading.get(k)?.read === read) this.#reading.delete(k);
      };
      read.then(done, done);
    }
    const bytes = await pending.read;
    if (!bytes) throw new ShardNotFoundError(describeShard(key));
    this.#recent.set(k, { file: key.file, bytes, at: now });
    if (this.#recent.size > RECENT_SHARDS) this.#recent.delete(this.#recent.keys().next().value!);
    return bytes;
  }
}
