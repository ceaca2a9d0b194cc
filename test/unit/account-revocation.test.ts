import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url, toHex } from '../../src/core/bytes.ts';
import { RevocationError } from '../../src/core/account/account-errors.ts';
import { deriveAccountKeys } from '../../src/core/account/account-keys.ts';
import {
  emptyRevocations,
  isRevoked,
  mergeRevocations,
  revocationBytes,
  revokeDevices,
  verifyRevocations,
} from '../../src/core/account/revocation.ts';

const subtle = globalThis.crypto.subtle;
const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const OTHER = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const D1 = 'aaaaaaaaaaaaaaaa';
const D2 = 'bbbbbbbbbbbbbbbb';
const D3 = 'cccccccccccccccc';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(RevocationError);
    return (e as RevocationError).code;
  }
}

describe('revocation list', () => {
  it('has a fixed canonical encoding', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const l0 = await emptyRevocations(account);
    const l1 = await revokeDevices(account, l0, [D2, D1], 1_700_000_000_000);
    expect(l1).toMatchObject({ version: 1, epoch: 1 });
    expect(l1.revoked.map((e) => e.device)).toEqual([D1, D2]);
    expect(toHex(revocationBytes(l1))).toBe(
      '776f732f76312f7265766f636174696f6e73' + // "wos/v1/revocations"
        '00' +
        '01' +
        toHex(account.publicKey) +
        '00000001' + // version
        '00000001' + // epoch
        '00000002' + // count
        '0010' +
        '61'.repeat(16) +
        '0000018bcfe56800' +
        '0010' +
        '62'.repeat(16) +
        '0000018bcfe56800',
    );
    expect(
      await verifyRevocations(subtle, JSON.parse(JSON.stringify(l1)), account.publicKey),
    ).toEqual(l1);
    expect(isRevoked(l1, D1)).toBe(true);
    expect(isRevoked(l1, D3)).toBe(false);
  });

  it('merges: higher signed version wins, lower is ignored, revocations are permanent', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const pk = account.publicKey;
    const l0 = await emptyRevocations(account);
    const l1 = await revokeDevices(account, l0, [D1], 1);
    const l2 = await revokeDevices(account, l1, [D2], 2);
    expect(await mergeRevocations(subtle, pk, undefined, l1)).toMatchObject({
      list: l1,
      changed: true,
    });
    expect(await mergeRevocations(subtle, pk, l1, l2)).toMatchObject({
      list: l2,
      changed: true,
      conflict: false,
    });
    expect(await mergeRevocations(subtle, pk, l2, l1)).toMatchObject({ list: l2, changed: false });
    expect(await mergeRevocations(subtle, pk, l2, l2)).toMatchObject({
      list: l2,
      changed: false,
      conflict: false,
    });
    // Re-revoking a device keeps its first time.
    const again = await revokeDevices(account, l2, [D1], 99);
    expect(again).toBe(l2);
    const l3 = await revokeDevices(account, l2, [D1, D3], 3);
    expect(l3).toMatchObject({ version: 3, epoch: 3 });
    expect(l3.revoked.map((e) => [e.device, e.at])).toEqual([
      [D1, 1],
      [D2, 2],
      [D3, 3],
    ]);
    // A correctly signed higher version that drops a revoked device: refused.
    const body = { ...l2, version: 3, revoked: l2.revoked.filter((e) => e.device !== D1) };
    const dropped = { ...body, sig: toBase64Url(await account.sign(revocationBytes(body))) };
    expect(await codeOf(mergeRevocations(subtle, pk, l2, dropped))).toBe('REVOCATION_ROLLBACK');
    const body2 = { ...l2, version: 3, epoch: 0 };
    const lower = { ...body2, sig: toBase64Url(await account.sign(revocationBytes(body2))) };
    expect(await codeOf(mergeRevocations(subtle, pk, l2, lower))).toBe('REVOCATION_ROLLBACK');
  });

  it('resolves a fork at the same version deterministically and flags it', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const pk = account.publicKey;
    const l1 = await revokeDevices(account, await emptyRevocations(account), [D1], 1);
    const a = await revokeDevices(account, l1, [D2], 2);
    const b = await revokeDevices(account, l1, [D3], 2);
    const ab = await mergeRevocations(subtle, pk, a, b);
    const ba = await mergeRevocations(subtle, pk, b, a);
    expect(ab.conflict && ba.conflict).toBe(true);
    expect(ab.list).toEqual(ba.list); // both sides settle on the same list
    const bigger = await revokeDevices(account, l1, [D2, D3], 2);
    expect((await mergeRevocations(subtle, pk, a, bigger)).list).toEqual(bigger);
    // The fix: the union signed as the next version, accepted by both.
    const union = await revokeDevices(account, ab.list, [D2, D3], 3);
    expect(
      (await mergeRevocations(subtle, pk, a, union)).list.revoked.map((e) => e.device),
    ).toEqual([D1, D2, D3]);
    expect((await mergeRevocations(subtle, pk, b, union)).changed).toBe(true);
  });

  it('refuses malformed, forged, foreign and future lists with specific codes', async () => {
    const account = await deriveAccountKeys(subtle, SECRET);
    const other = await deriveAccountKeys(subtle, OTHER);
    const pk = account.publicKey;
    const l1 = await revokeDevices(account, await emptyRevocations(account), [D1, D2], 5);
    const sig = fromBase64Url(l1.sig);
    sig[63]! ^= 0x40;
    const cases: [string, unknown, string][] = [
      ['string', 'x', 'REVOCATION_MALFORMED'],
      ['v2', { ...l1, v: 2 }, 'REVOCATION_VERSION'],
      ['unsorted', { ...l1, revoked: [...l1.revoked].reverse() }, 'REVOCATION_MALFORMED'],
      ['duplicate', { ...l1, revoked: [l1.revoked[0], l1.revoked[0]] }, 'REVOCATION_MALFORMED'],
      ['bad device id', { ...l1, revoked: [{ device: 'X', at: 1 }] }, 'REVOCATION_MALFORMED'],
      ['negative version', { ...l1, version: -1 }, 'REVOCATION_MALFORMED'],
      ['extra', { ...l1, note: 'hi' }, 'REVOCATION_MALFORMED'],
      ['bumped version', { ...l1, version: 9 }, 'REVOCATION_BAD_SIGNATURE'],
      ['un-revoked', { ...l1, revoked: l1.revoked.slice(1) }, 'REVOCATION_BAD_SIGNATURE'],
      ['flipped sig', { ...l1, sig: toBase64Url(sig) }, 'REVOCATION_BAD_SIGNATURE'],
      ['foreign', await emptyRevocations(other), 'REVOCATION_WRONG_ACCOUNT'],
    ];
    for (const [what, x, code] of cases) {
      expect([what, await codeOf(verifyRevocations(subtle, x, pk))]).toEqual([what, code]);
    }
    // Forged by another key while naming this account.
    const forged = { ...l1, sig: toBase64Url(await other.sign(revocationBytes(l1))) };
    expect(await codeOf(mergeRevocations(subtle, pk, l1, forged))).toBe('REVOCATION_BAD_SIGNATURE');
  });
});
