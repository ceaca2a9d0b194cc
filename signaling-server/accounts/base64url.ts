import { FieldError } from './errors.ts';

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes an unpadded, canonical base64url field of `min`–`max` bytes, or throws a FieldError
 * naming `field` (INVALID_TYPE, INVALID_BASE64URL, INVALID_LENGTH). Canonical means the
 * unused bits of the last character are zero, so every byte string has exactly one encoding.
 */
export function decodeBase64url(field: string, value: unknown, min: number, max: number): Buffer {
  if (typeof value !== 'string') throw new FieldError('INVALID_TYPE', field, 'must be a string');
  const range = min === max ? `${min}` : `${min}-${max}`;
  // Reject far-too-long strings before looking at them character by character.
  if (value.length > Math.ceil((max * 4) / 3) + 4)
    throw new FieldError('INVALID_LENGTH', field, `must encode ${range} bytes`);
  if (!B64URL_RE.test(value) || value.length % 4 === 1)
    throw new FieldError(
      'INVALID_BASE64URL',
      field,
      'must be unpadded base64url (A-Z a-z 0-9 - _)',
    );
  const bytes = Buffer.from(value, 'base64url');
  if (bytes.toString('base64url') !== value) {
    bytes.fill(0);
    throw new FieldError('INVALID_BASE64URL', field, 'is not canonical base64url');
  }
  if (bytes.length < min || bytes.length > max) {
    bytes.fill(0);
    throw new FieldError('INVALID_LENGTH', field, `must encode ${range} bytes`);
  }
  return bytes;
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
