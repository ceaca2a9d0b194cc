import * as v from 'valibot';
import { WosError } from '../errors.ts';
import { describeIssues } from '../wire.ts';
import { U32Schema } from './schemas.ts';

/**
 * The tabs of one browser profile share one device (one store, one box key) but run separate
 * nodes. When one of them learns an epoch key or a revocation list and keeps it in the store,
 * it says so on the profile channel (a BroadcastChannel in a browser, injected: core stays
 * platform-free) and the others take it up from the store at once, without a reload.
 *
 * Messages (validated on receipt; the list is verified again by mergeRevocations):
 * - `{ v: 1, t: 'epoch', epoch }`: the store holds the key of `epoch` (≥ 1);
 * - `{ v: 1, t: 'revocations', list }`: a newer revocation list.
 */
export interface ProfileChannel {
  post(message: unknown): void;
  /** Calls `fn` with every message another tab posted; returns the unsubscribe. */
  subscribe(fn: (message: unknown) => void): () => void;
}

const ProfileMsgSchema = v.variant('t', [
  v.strictObject({
    v: v.literal(1),
    t: v.literal('epoch'),
    epoch: v.pipe(U32Schema, v.minValue(1)),
  }),
  v.strictObject({ v: v.literal(1), t: v.literal('revocations'), list: v.unknown() }),
]);
export type ProfileMessage = v.InferOutput<typeof ProfileMsgSchema>;

export class ProfileChannelError extends WosError {
  constructor(detail: string) {
    super(
      'PROFILE_MESSAGE_MALFORMED',
      `a message from another tab of this profile is malformed (${detail}); it is ignored ` +
        '(tabs of different WOS versions? reload them)',
    );
  }
}

/** Parses a profile-channel message; throws ProfileChannelError. */
export function parseProfileMessage(m: unknown): ProfileMessage {
  const r = v.safeParse(ProfileMsgSchema, m);
  if (!r.success) throw new ProfileChannelError(describeIssues(r.issues));
  return r.output;
}

export const epochMessage = (epoch: number): ProfileMessage => ({ v: 1, t: 'epoch', epoch });
export const listMessage = (list: unknown): ProfileMessage => ({ v: 1, t: 'revocations', list });
