import { concatBytes, utf8 } from '../bytes.ts';
import { sha256 } from '../identity.ts';
import { HandleError } from './account-errors.ts';

/**
 * A handle names an account for people: `<name>#<tag>`, e.g. `alice#7f3k`.
 *
 * - name: 1–32 code points after Unicode NFKC normalization and lowercasing (NFKC output is
 *   also NFC; compatibility forms such as full-width letters fold to plain ones, as in the
 *   server's handle key); letters, digits (any script), combining marks, `-` and `_`.
 * - tag: the first 4 symbols of base32 (RFC 4648 alphabet, lowercase `a-z2-7`, most significant
 *   bit first) of SHA-256("wos/v1/handle-tag|" ‖ raw Ed25519 account public key): 20 bits, so
 *   two accounts choosing the same name are told apart, and a handle can be checked against a
 *   key. The tag is not a security boundary: verify the account key itself where it matters.
 */
export const HANDLE_NAME_MAX = 32;
export const HANDLE_TAG_CHARS = 4;
const TAG_LABEL = 'wos/v1/handle-tag|';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const NAME_RE = /^[\p{L}\p{N}\p{M}_-]+$/u;
const TAG_RE = /^[a-z2-7]{4}$/;

export interface Handle {
  readonly name: string;
  readonly tag: string;
}

/** Normalizes and checks a chosen name; throws `HandleError` (HANDLE_NAME) when unusable. */
export function normalizeHandleName(name: string): string {
  const n = name.normalize('NFKC').toLowerCase().normalize('NFKC');
  const length = [...n].length;
  if (length < 1 || length > HANDLE_NAME_MAX) {
    throw new HandleError(
      'HANDLE_NAME',
      `a name has 1 to ${HANDLE_NAME_MAX} characters, this one has ${length}; choose another`,
    );
  }
  if (!NAME_RE.test(n)) {
    throw new HandleError(
      'HANDLE_NAME',
      `a name may hold letters, digits, "-" and "_" only; ${JSON.stringify(name)} has others`,
    );
  }
  return n;
}

/** The 4-symbol tag of an account public key. */
export async function handleTagOf(
  subtle: SubtleCrypto,
  accountPublicKey: Uint8Array,
): Promise<string> {
  const h = await sha256(subtle, concatBytes(utf8(TAG_LABEL), accountPublicKey));
  // 4 symbols = 20 bits = the first 2.5 bytes.
  const bits = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
  let tag = '';
  for (let i = 0; i < HANDLE_TAG_CHARS; i++) tag += BASE32[(bits >> (19 - 5 * i)) & 31]!;
  return tag;
}

export async function handleOf(
  subtle: SubtleCrypto,
  name: string,
  accountPublicKey: Uint8Array,
): Promise<Handle> {
  return { name: normalizeHandleName(name), tag: await handleTagOf(subtle, accountPublicKey) };
}

export function formatHandle(h: Handle): string {
  return `${normalizeHandleName(h.name)}#${checkTag(h.tag)}`;
}

function checkTag(tag: string): string {
  const t = tag.toLowerCase();
  if (!TAG_RE.test(t)) {
    throw new HandleError(
      'HANDLE_TAG',
      `the part after "#" is ${HANDLE_TAG_CHARS} characters from a-z and 2-7, not ` +
        `${JSON.stringify(tag)}; check the handle`,
    );
  }
  return t;
}

/** Parses `name#tag` (any case; surrounding spaces ignored). */
export function parseHandle(text: string): Handle {
  const t = text.trim();
  const hash = t.lastIndexOf('#');
  if (hash < 0) {
    throw new HandleError(
      'HANDLE_MALFORMED',
      `a handle looks like "alice#7f3k" (name, "#", 4-character tag); ${JSON.stringify(text)} ` +
        'has no "#"',
    );
  }
  return { name: normalizeHandleName(t.slice(0, hash)), tag: checkTag(t.slice(hash + 1)) };
}

/** Throws HANDLE_TAG_MISMATCH unless `handle`'s tag is the tag of `accountPublicKey`. */
export async function checkHandleKey(
  subtle: SubtleCrypto,
  handle: Handle,
  accountPublicKey: Uint8Array,
): Promise<void> {
  const want = await handleTagOf(subtle, accountPublicKey);
  if (handle.tag !== want) {
    throw new HandleError(
      'HANDLE_TAG_MISMATCH',
      `handle ${handle.name}#${handle.tag} does not belong to this account key (its tag is ` +
        `#${want}); the handle was mistyped or the key is not that account's`,
    );
  }
}
