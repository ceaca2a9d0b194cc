import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ChallengeError } from './errors.ts';

/** Bytes of a challenge: u64 issued-at (ms) ‖ 16 random ‖ 16 of MAC. */
export const CHALLENGE_BYTES = 40;
const ID_BYTES = 16;
const MAC_BYTES = 16;
/** Clock steps backwards smaller than this do not invalidate fresh challenges. */
const SKEW_MS = 5_000;

/** A checked challenge: `id` is what the store marks used, until `expiresAt`. */
export interface LiveChallenge {
  id: Buffer;
  expiresAt: number;
}

/**
 * Single-use challenges for account-signed requests. A challenge is self-authenticating (a MAC
 * under a per-process random secret), so issuing one stores nothing and an IP can fetch many
 * without filling a table; the store marks a challenge used in the same transaction as the
 * change it authorised, so a captured signed request cannot be replayed, and a request that
 * fails leaves its challenge usable. After a restart every older challenge is invalid.
 */
export class Challenges {
  constructor(
    private readonly secret: Buffer,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  issue(): { nonce: Buffer; expiresAt: number } {
    const at = this.now();
    const head = Buffer.alloc(8 + ID_BYTES);
    head.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(at))));
    randomBytes(ID_BYTES).copy(head, 8);
    return { nonce: Buffer.concat([head, this.mac(head)]), expiresAt: at + this.ttlMs };
  }

  /** Throws CHALLENGE_INVALID or CHALLENGE_EXPIRED; does not mark it used (the store does). */
  check(nonce: Buffer): LiveChallenge {
    if (nonce.length !== CHALLENGE_BYTES) throw new ChallengeError('CHALLENGE_INVALID');
    const head = nonce.subarray(0, 8 + ID_BYTES);
    if (!timingSafeEqual(this.mac(head), nonce.subarray(8 + ID_BYTES)))
      throw new ChallengeError('CHALLENGE_INVALID');
    const at = Number(head.readBigUInt64BE());
    const now = this.now();
    if (at > now + SKEW_MS || now - at > this.ttlMs) throw new ChallengeError('CHALLENGE_EXPIRED');
    return { id: Buffer.from(head.subarray(8)), expiresAt: at + this.ttlMs };
  }

  private mac(head: Buffer): Buffer {
    return createHmac('sha256', this.secret)
      .update('wos-account-challenge-v1\0')
      .update(head)
      .digest()
      .subarray(0, MAC_BYTES);
  }
}
