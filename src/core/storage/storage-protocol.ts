import * as v from 'valibot';

/**
 * Storage messages on the bus (version 1). Requests are validated by the bus against these
 * schemas before a holder's handler runs; replies are validated by the client before use.
 * Shard bytes travel as the bus attachment, never in JSON. Ids, hashes, keys and signatures
 * are base64url.
 */
const b64url = (min: number, max: number) =>
  v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]*$/), v.minLength(min), v.maxLength(max));

/** 16 random bytes. */
export const FileIdSchema = b64url(22, 22);
export const StoreIdSchema = b64url(8, 64);
/** SHA-256. */
export const HashSchema = b64url(43, 43);
/** The owner's raw public key (P-256: 65 bytes). */
export const PubKeySchema = b64url(16, 200);
export const SigSchema = b64url(16, 400);
/** The owner's listing tag: 16 bytes derived from the storage key. */
export const TagSchema = b64url(22, 22);

const u31 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(2 ** 31 - 1));
const bytes = v.pipe(v.number(), v.minValue(0), v.maxValue(2 ** 53));
export const StripeNumberSchema = u31;
export const ShardIndexSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255));

export const ShardKeySchema = v.strictObject({
  file: FileIdSchema,
  stripe: StripeNumberSchema,
  index: ShardIndexSchema,
});

/** Largest manifest text (a multi-GiB file of 4 MiB stripes stays far below). */
export const MAX_MANIFEST_CHARS = 8 * 1024 * 1024;

export const SignedManifestSchema = v.strictObject({
  m: v.pipe(v.string(), v.maxLength(MAX_MANIFEST_CHARS)),
  sig: SigSchema,
});

export const TombstoneSchema = v.strictObject({
  file: FileIdSchema,
  owner: PubKeySchema,
  sig: SigSchema,
});

// st.info: which store a node serves and how full it is.
export const InfoRequestSchema = v.strictObject({});
export const InfoReplySchema = v.strictObject({ store: StoreIdSchema, quota: bytes, used: bytes });

/**
 * Shard bytes move in pieces of at most this many bytes, so that no storage message is split
 * across data-channel frames (256 KiB, less the packet header).
 */
export const MAX_PIECE_BYTES = 250 * 1024;
export const MAX_SHARD_BYTES = 64 * 1024 * 1024;
const shardBytes = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SHARD_BYTES));
const offset = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_SHARD_BYTES));

// st.put (+ piece bytes at `at`): the holder assembles the `size`-byte shard, checks its hash
// and quota, and stores it; the reply to the piece that completes it says `done`.
export const PutRequestSchema = v.strictObject({
  file: FileIdSchema,
  stripe: StripeNumberSchema,
  index: ShardIndexSchema,
  hash: HashSchema,
  owner: PubKeySchema,
  size: shardBytes,
  at: offset,
});
export const PutReplySchema = v.strictObject({ quota: bytes, used: bytes, done: v.boolean() });

// st.get → bytes [from, from + len) of a shard as the attachment, and the shard's size.
export const GetRequestSchema = v.strictObject({
  file: FileIdSchema,
  stripe: StripeNumberSchema,
  index: ShardIndexSchema,
  from: offset,
  len: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_PIECE_BYTES)),
});
export const GetReplySchema = v.strictObject({ size: shardBytes });

// st.audit: SHA-256 of (nonce ‖ bytes[from, from + len)) for each item; null if missing.
export const MAX_AUDIT_ITEMS = 4096;
export const AuditRequestSchema = v.strictObject({
  file: FileIdSchema,
  nonce: v.optional(b64url(0, 64)),
  items: v.pipe(
    v.array(
      v.strictObject({
        stripe: StripeNumberSchema,
        index: ShardIndexSchema,
        from: v.optional(u31),
        len: v.optional(u31),
      }),
    ),
    v.maxLength(MAX_AUDIT_ITEMS),
  ),
});
export const AuditReplySchema = v.strictObject({
  results: v.pipe(v.array(v.nullable(HashSchema)), v.maxLength(MAX_AUDIT_ITEMS)),
});

// st.delete: the owner's signed delete of a whole file (kept as a tombstone).
export const DeleteRequestSchema = TombstoneSchema;
export const DeleteReplySchema = v.strictObject({ deleted: v.boolean() });

// st.hold: an upload in progress renews its shards' grace period.
export const HoldRequestSchema = v.strictObject({ file: FileIdSchema, owner: PubKeySchema });
export const HoldReplySchema = v.strictObject({});

// st.manifest.put / get / list.
export const ManifestPutRequestSchema = SignedManifestSchema;
export const ManifestPutReplySchema = v.strictObject({ rev: u31 });
export const ManifestGetRequestSchema = v.strictObject({ file: FileIdSchema });
export const ManifestGetReplySchema = v.strictObject({
  manifest: v.optional(SignedManifestSchema),
  deleted: v.optional(TombstoneSchema),
});
export const MAX_LIST_ITEMS = 256;
export const ManifestListRequestSchema = v.strictObject({
  tag: TagSchema,
  after: v.optional(FileIdSchema),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_LIST_ITEMS))),
});
export const ManifestListReplySchema = v.strictObject({
  items: v.pipe(v.array(SignedManifestSchema), v.maxLength(MAX_LIST_ITEMS)),
  tombstones: v.pipe(v.array(TombstoneSchema), v.maxLength(MAX_LIST_ITEMS)),
  more: v.boolean(),
});

export type PutRequest = v.InferOutput<typeof PutRequestSchema>;
export type AuditRequest = v.InferOutput<typeof AuditRequestSchema>;
export type Tombstone = v.InferOutput<typeof TombstoneSchema>;
