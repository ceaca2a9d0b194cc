import { concatBytes } from '../bytes.ts';
import { RecoveryCodeError } from './account-errors.ts';
import { ACCOUNT_SECRET_BYTES, checkAccountSecret, type AccountSecret } from './account-secret.ts';

/**
 * The recovery code: the account secret in a form for copying, printing and QR codes.
 *
 *   bytes = secret (32) ‖ CRC-24/OpenPGP(secret) (3, big-endian)      35 bytes = 280 bits
 *   text  = Crockford base32 of bytes, most significant bit first      56 symbols
 *           in 14 groups of 4 joined by '-'                            69 characters
 *
 * Parsing ignores case, spaces, dashes and underscores and reads O as 0 and I, L as 1 (Crockford).
 * CRC-24 detects every single-symbol typo and every swap of two adjacent symbols (both are
 * bursts of at most 10 bits); other damage slips through with probability 2^-24.
 */
export const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const RECOVERY_CODE_SYMBOLS = 56;
const GROUP = 4;
const CHECK_BYTES = 3;

/** CRC-24 of RFC 4880 section 6.1 (init 0xB704CE, polynomial 0x1864CFB). */
export function crc24(data: Uint8Array): number {
  let crc = 0xb704ce;
  for (const b of data) {
    crc ^= b << 16;
    for (let i = 0; i < 8; i++) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864cfb;
    }
  }
  return crc & 0xffffff;
}

function checksum(secret: Uint8Array): Uint8Array {
  const c = crc24(secret);
  return Uint8Array.of(c >> 16, (c >> 8) & 0xff, c & 0xff);
}

/** Formats an account secret as its recovery code, e.g. `0ABC-DEFG-…` (69 characters). */
export function formatRecoveryCode(secret: AccountSecret): string {
  checkAccountSecret(secret);
  const bytes = concatBytes(secret, checksum(secret));
  let symbols = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      symbols += CROCKFORD[(acc >> bits) & 31]!;
    }
    acc &= (1 << bits) - 1;
  }
  const groups: string[] = [];
  for (let i = 0; i < symbols.length; i += GROUP) groups.push(symbols.slice(i, i + GROUP));
  return groups.join('-');
}

function symbolValue(ch: string): number {
  const c = ch.toUpperCase();
  if (c === 'O') return 0;
  if (c === 'I' || c === 'L') return 1;
  return CROCKFORD.indexOf(c);
}

/** Parses a recovery code typed, pasted or scanned; throws `RecoveryCodeError` on any damage. */
export function parseRecoveryCode(text: string): AccountSecret {
  const compact = text.replace(/[\s\-_]/g, '');
  const values: number[] = [];
  const bad: string[] = [];
  for (const ch of compact) {
    const v = symbolValue(ch);
    if (v < 0) bad.push(ch);
    else values.push(v);
  }
  if (bad.length > 0) {
    const list = [...new Set(bad)].map((c) => JSON.stringify(c)).join(', ');
    throw new RecoveryCodeError(
      'RECOVERY_CODE_CHARS',
      `the recovery code contains ${list}, which a recovery code never has (it uses 0-9 and ` +
        `A-Z without U); check what you typed`,
    );
  }
  if (values.length !== RECOVERY_CODE_SYMBOLS) {
    throw new RecoveryCodeError(
      'RECOVERY_CODE_LENGTH',
      `a recovery code has ${RECOVERY_CODE_SYMBOLS} characters (14 groups of 4), this one has ` +
        `${values.length}; check for a missing or extra group`,
    );
  }
  const bytes = new Uint8Array(ACCOUNT_SECRET_BYTES + CHECK_BYTES);
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const v of values) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[o++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  const secret = bytes.slice(0, ACCOUNT_SECRET_BYTES);
  const want = checksum(secret);
  const got = bytes.subarray(ACCOUNT_SECRET_BYTES);
  if (want[0] !== got[0] || want[1] !== got[1] || want[2] !== got[2]) {
    throw new RecoveryCodeError(
      'RECOVERY_CODE_CHECKSUM',
      'the recovery code does not check out: a character is wrong or two are swapped; compare ' +
        'it with your copy group by group',
    );
  }
  return secret;
}
