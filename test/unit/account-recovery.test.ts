import { describe, expect, it } from 'vitest';
import { toHex } from '../../src/core/bytes.ts';
import {
  CROCKFORD,
  crc24,
  formatRecoveryCode,
  parseRecoveryCode,
} from '../../src/core/account/recovery-code.ts';
import { RecoveryCodeError } from '../../src/core/account/account-errors.ts';
import { utf8 } from '../../src/core/bytes.ts';

const SECRET = Uint8Array.from({ length: 32 }, (_, i) => i);
const CODE = '000G-40R4-0M30-E209-185G-R38E-1W81-24GK-2GAH-C5RR-34D1-P70X-3RFT-5WF7';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(RecoveryCodeError);
    return (e as RecoveryCodeError).code;
  }
}

describe('recovery code', () => {
  it('CRC-24 matches RFC 4880 check value', () => {
    expect(crc24(utf8('123456789')).toString(16)).toBe('21cf02');
  });

  it('formats a fixed secret as the fixed vector and parses it back', () => {
    expect(formatRecoveryCode(SECRET)).toBe(CODE);
    expect(CODE).toHaveLength(69);
    expect(toHex(parseRecoveryCode(CODE))).toBe(toHex(SECRET));
  });

  it('round-trips random secrets', () => {
    for (let i = 0; i < 200; i++) {
      const s = globalThis.crypto.getRandomValues(new Uint8Array(32));
      const c = formatRecoveryCode(s);
      expect(c).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){13}[0-9A-HJKMNP-TV-Z]{4}$/);
      expect(toHex(parseRecoveryCode(c))).toBe(toHex(s));
    }
  });

  it('tolerates case, spaces, dashes, line breaks and Crockford look-alikes', () => {
    const variants = [
      CODE.toLowerCase(),
      CODE.replace(/-/g, ' '),
      CODE.replace(/-/g, ''),
      `  ${CODE.replace(/-/g, '\n')}  `,
      CODE.replace(/0/g, 'O').replace(/1/g, 'l'),
      CODE.replace(/1/g, 'I').replace(/0/g, 'o'),
    ];
    for (const v of variants) expect(toHex(parseRecoveryCode(v))).toBe(toHex(SECRET));
  });

  it('detects every single-character typo and every adjacent swap (RECOVERY_CODE_CHECKSUM)', () => {
    const compact = CODE.replace(/-/g, '');
    let checked = 0;
    for (let i = 0; i < compact.length; i++) {
      for (const ch of CROCKFORD) {
        if (ch === compact[i]) continue;
        const typo = compact.slice(0, i) + ch + compact.slice(i + 1);
        expect(codeOf(() => parseRecoveryCode(typo))).toBe('RECOVERY_CODE_CHECKSUM');
        checked++;
      }
      if (i + 1 < compact.length && compact[i] !== compact[i + 1]) {
        const swap = compact.slice(0, i) + compact[i + 1]! + compact[i]! + compact.slice(i + 2);
        expect(codeOf(() => parseRecoveryCode(swap))).toBe('RECOVERY_CODE_CHECKSUM');
      }
    }
    expect(checked).toBe(56 * 31);
  });

  it('reports wrong lengths (RECOVERY_CODE_LENGTH)', () => {
    const compact = CODE.replace(/-/g, '');
    for (const s of [
      '',
      compact.slice(0, 52),
      compact.slice(0, 55),
      `${compact}0`,
      CODE + '-0000',
    ]) {
      expect(codeOf(() => parseRecoveryCode(s))).toBe('RECOVERY_CODE_LENGTH');
    }
    expect(() => parseRecoveryCode(compact.slice(0, 52))).toThrow(/56 characters.*has 52/);
  });

  it('reports characters a code never has (RECOVERY_CODE_CHARS), naming them', () => {
    for (const s of [CODE.replace('G', 'U'), CODE + '!', CODE.replace('4', '4é'), `${CODE}.`]) {
      expect(codeOf(() => parseRecoveryCode(s))).toBe('RECOVERY_CODE_CHARS');
    }
    expect(() => parseRecoveryCode(CODE.replace('G', 'U'))).toThrow(/"U"/);
  });

  it('refuses to format a secret of the wrong size', () => {
    expect(() => formatRecoveryCode(new Uint8Array(16))).toThrow(/32 bytes/);
  });
});
