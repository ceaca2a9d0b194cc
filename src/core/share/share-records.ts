import { ArgumentError } from '../errors.ts';

/**
 * The owner's record of each share link it made, kept by the owner's serving devices and never
 * sent to anyone: the link holds the keys, the record holds what the owner enforces — expiry,
 * download limit, revocation — by share id. A link holder can edit and re-check a link (it has
 * the keys), so these rules are only as good as the record the server checks.
 */
export interface ShareRecord {
  /** Share id, base64url of 8 random bytes (in the link). */
  readonly id: string;
  /** File id (base64url). */
  readonly file: string;
  /** Storage epoch of the file (its keys derive from that epoch's root); absent: 0. */
  readonly epoch?: number | undefined;
  /** Clock time it was made, ms. */
  readonly created: number;
  /** Refused from this clock time on, ms (whole seconds, as in the link). */
  readonly expiresAt?: number | undefined;
  /** Guest sessions allowed to start a download. */
  readonly maxDownloads?: number | undefined;
  /** Guest sessions that started one so far. */
  readonly downloads: number;
  readonly revoked: boolean;
  /** Clock time of the revocation, ms. */
  readonly revokedAt?: number | undefined;
}

/** Where a device keeps its share records (memory in tests; IndexedDB in a browser). */
export interface ShareRecords {
  get(id: string): Promise<ShareRecord | undefined>;
  list(): Promise<ShareRecord[]>;
  /** Adds a record; a share id is never reused (ArgumentError if it exists). */
  add(record: ShareRecord): Promise<void>;
  /**
   * Replaces the record with `fn(record)` atomically (no other update in between); `fn`
   * returning undefined leaves it as it is. Resolves with the record as stored afterwards
   * (undefined if there is none).
   */
  update(
    id: string,
    fn: (r: ShareRecord) => ShareRecord | undefined,
  ): Promise<ShareRecord | undefined>;
}

export class MemoryShareRecords implements ShareRecords {
  readonly #records = new Map<string, ShareRecord>();

  async get(id: string): Promise<ShareRecord | undefined> {
    const r = this.#records.get(id);
    return r && { ...r };
  }

  async list(): Promise<ShareRecord[]> {
    return [...this.#records.values()].map((r) => ({ ...r }));
  }

  async add(record: ShareRecord): Promise<void> {
    if (this.#records.has(record.id)) throw new ArgumentError(`share ${record.id} exists`);
    this.#records.set(record.id, { ...record });
  }

  async update(
    id: string,
    fn: (r: ShareRecord) => ShareRecord | undefined,
  ): Promise<ShareRecord | undefined> {
    const cur = this.#records.get(id);
    if (!cur) return undefined;
    const next = fn({ ...cur });
    if (next) this.#records.set(id, { ...next, id: cur.id, file: cur.file });
    return { ...(this.#records.get(id) ?? cur) };
  }
}
