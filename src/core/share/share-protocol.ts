import * as v from 'valibot';
import { SHARE_ID_BYTES } from '../account/share-link.ts';
import {
  MAX_PIECE_BYTES,
  MAX_SHARD_BYTES,
  ShardIndexSchema,
  SignedManifestSchema,
  StripeNumberSchema,
} from '../storage/storage-protocol.ts';

/**
 * Messages between a share link's guest and the owner's share server on the share's
 * rendezvous mesh (version 1). Validated by the bus before a handler runs, replies by the guest
 * before use. Shard bytes travel as the bus attachment. The share id (base64url of 8 bytes)
 * names the share; the file is the server's, never the request's.
 */
export const ShareIdSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]*$/),
  v.length(Math.ceil((SHARE_ID_BYTES * 4) / 3)),
);

// sh.manifest → the file's signed manifest (its private part sealed with the meta key).
export const ShareManifestRequestSchema = v.strictObject({ share: ShareIdSchema });
export const ShareManifestReplySchema = v.strictObject({ manifest: SignedManifestSchema });

// sh.shard → bytes [from, from + len) of sealed shard (stripe, index) as the attachment, and
// the shard's size.
export const ShareShardRequestSchema = v.strictObject({
  share: ShareIdSchema,
  stripe: StripeNumberSchema,
  index: ShardIndexSchema,
  from: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_SHARD_BYTES)),
  len: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_PIECE_BYTES)),
});
export const ShareShardReplySchema = v.strictObject({
  size: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SHARD_BYTES)),
});

export type ShareShardRequest = v.InferOutput<typeof ShareShardRequestSchema>;
