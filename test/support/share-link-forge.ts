import crypto from 'node:crypto';
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from '../../src/core/bytes.ts';

/**
 * What any holder of a share link can do (it has the file keys, so it can compute the check):
 * re-issue the link naming another owner, or as a version 1 link naming none. Written with
 * node:crypto from the documented layout (docs/ACCOUNTS.md), independently of share-link.ts.
 */
export function ownerHashOf(key: Uint8Array): Uint8Array {
  const h = crypto.createHash('sha256').update(concatBytes(utf8('wos/v2/share-owner|'), key));
  return new Uint8Array(h.digest().subarray(0, 16));
}

export function reissueShareCode(
  code: string,
  change: { ownerKey?: Uint8Array; version1?: boolean },
): string {
  const b = fromBase64Url(code);
  if (b[0] !== 2) throw new Error('expected a version 2 link');
  const head = b.slice(0, 90);
  const owner = change.ownerKey ? ownerHashOf(change.ownerKey) : b.slice(90, 106);
  const rest = b.slice(106, b.length - 8);
  if (change.version1) head[0] = 1;
  const body = change.version1 ? concatBytes(head, rest) : concatBytes(head, owner, rest);
  const info = change.version1 ? 'wos/v1/share-mac' : 'wos/v2/share-mac';
  const ikm = b.slice(26, 90);
  const macKey = new Uint8Array(crypto.hkdfSync('sha256', ikm, new Uint8Array(0), utf8(info), 32));
  const mac = crypto.createHmac('sha256', macKey).update(body).digest().subarray(0, 8);
  return toBase64Url(concatBytes(body, mac));
}

/** The same for a full link (`…#/s/<code>`). */
export function reissueShareLink(
  link: string,
  change: { ownerKey?: Uint8Array; version1?: boolean },
): string {
  const at = link.indexOf('#/s/') + 4;
  return link.slice(0, at) + reissueShareCode(link.slice(at), change);
}
