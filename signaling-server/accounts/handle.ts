import { FieldError } from './errors.ts';

export const HANDLE_MAX = 40;

/** A valid handle as given (NFC) and the key it is unique under. */
export interface Handle {
  /** As registered (NFC normalised), returned to clients. */
  display: string;
  /** NFKC + lowercase: `Alice#7F3K`, `alice#7f3k` and full-width forms are one handle. */
  key: string;
  /** Exactly as sent: what a signed request signed. */
  sent: string;
}

// Control characters, separators other than a plain space, and invisible formatting characters.
const FORBIDDEN_RE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u;

/**
 * A handle such as `alice#7f3k`: 1–40 characters (code points, after NFC), no control or
 * invisible characters, no leading/trailing or double spaces.
 */
export function parseHandle(value: unknown, field = 'handle'): Handle {
  if (typeof value !== 'string') throw new FieldError('INVALID_TYPE', field, 'must be a string');
  if (value.length > HANDLE_MAX * 2)
    throw new FieldError('INVALID_HANDLE', field, `must be 1-${HANDLE_MAX} characters`);
  const display = value.normalize('NFC');
  const length = [...display].length;
  if (length < 1 || length > HANDLE_MAX)
    throw new FieldError('INVALID_HANDLE', field, `must be 1-${HANDLE_MAX} characters`);
  if (FORBIDDEN_RE.test(display))
    throw new FieldError(
      'INVALID_HANDLE',
      field,
      'must not contain control or invisible characters',
    );
  if (display.trim() !== display || display.includes('  '))
    throw new FieldError('INVALID_HANDLE', field, 'must not start or end with, or double, spaces');
  return { display, key: display.normalize('NFKC').toLowerCase(), sent: value };
}
