import { toHex } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';

/**
 * The account secret: 32 random bytes, the root of an account (the user's "feature code"). It
 * is shown once as a recovery code (recovery-code.ts); every account key derives from it
 * (account-keys.ts). Whoever holds it is the account.
 */
export const ACCOUNT_SECRET_BYTES = 32;

export type AccountSecret = Uint8Array;

/** A new random account secret from the injected random source. */
export function newAccountSecret(random: (n: number) => Uint8Array): AccountSecret {
  const s = random(ACCOUNT_SECRET_BYTES);
  checkAccountSecret(s);
  if (s.every((b) => b === s[0])) {
    // 32 equal bytes from a working random source has probability 2^-248: the source is broken.
    throw new ArgumentError(`random() returned a constant buffer (${toHex(s.subarray(0, 4))}…)`);
  }
  return s;
}

export function checkAccountSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== ACCOUNT_SECRET_BYTES) {
    throw new ArgumentError(`an account secret is ${ACCOUNT_SECRET_BYTES} bytes`);
  }
}
