import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/core/bytes.ts';
import { InvalidMessageError } from '../../src/core/errors.ts';
import * as v from 'valibot';
import {
  decodePacket,
  encodePacket,
  EnvelopeSchema,
  isEnvelope,
  type Envelope,
} from '../../src/core/wire.ts';

const id = 'abcdefghijklmnop-abcdefgh';
const env: Envelope = { id: `${id}/1`, t: 'gossip', f: id, to: '*', ttl: 4, b: { x: [1, 'two'] } };

describe('wire format v1', () => {
  it('round-trips a header and an attachment', () => {
    const bin = new Uint8Array([1, 2, 3, 250]);
    const p = decodePacket(encodePacket({ env, bin }));
    expect(p.env).toEqual(env);
    expect(p.bin).toEqual(bin);
    expect(decodePacket(encodePacket({ env })).bin).toBeUndefined();
  });

  it('has a fixed layout: version, header length, JSON header, attachment', () => {
    const bytes = encodePacket({ env, bin: new Uint8Array([9]) });
    const header = utf8(JSON.stringify(env));
    expect(bytes[0]).toBe(1);
    expect(new DataView(bytes.buffer).getUint32(1)).toBe(header.length);
    expect(bytes.subarray(5, 5 + header.length)).toEqual(header);
    expect(bytes[bytes.length - 1]).toBe(9);
  });

  const bad: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array([1, 0]), /shorter than/],
    ['other version', new Uint8Array([2, 0, 0, 0, 0]), /version 2/],
    ['length past end', new Uint8Array([1, 0, 0, 1, 0, 1]), /past the end/],
    ['not JSON', new Uint8Array([1, 0, 0, 0, 2, 0x7b, 0x7b]), /not UTF-8 JSON/],
  ];
  it.each(bad)('rejects %s with a clear error', (_name, bytes, msg) => {
    expect(() => decodePacket(bytes)).toThrow(InvalidMessageError);
    expect(() => decodePacket(bytes)).toThrow(msg);
  });

  it.each([
    ['unknown field', { ...env, extra: 1 }],
    ['bad node id', { ...env, f: 'Robert"); DROP' }],
    ['bad type', { ...env, t: 'NOT A TYPE' }],
    ['ttl too high', { ...env, ttl: 99 }],
    ['missing id', { ...env, id: undefined }],
  ])('rejects a header with %s', (_name, header) => {
    const h = utf8(JSON.stringify(header));
    const bytes = new Uint8Array(5 + h.length);
    bytes[0] = 1;
    new DataView(bytes.buffer).setUint32(1, h.length);
    bytes.set(h, 5);
    expect(() => decodePacket(bytes)).toThrow(/header: /);
  });
});

describe('the hand-written envelope check', () => {
  it('accepts exactly what EnvelopeSchema accepts', () => {
    const base: Record<string, unknown> = {
      ...env,
      q: 1,
      re: 'x/1',
      err: { code: 'C', message: 'm' },
    };
    const variants: unknown[] = [env, base, null, [], 'x', { ...env, b: undefined }];
    const values: unknown[] = [
      undefined,
      null,
      0,
      1,
      2,
      -1,
      8,
      9,
      1.5,
      '',
      '*',
      id,
      'a'.repeat(81),
      [],
      {},
    ];
    for (const key of [...Object.keys(base), 'extra', '__proto__']) {
      for (const value of values)
        variants.push(JSON.parse(JSON.stringify({ ...base, [key]: value })));
    }
    for (const value of values) {
      variants.push({ ...base, err: { code: value, message: 'm' } });
      variants.push({ ...base, err: { code: 'c', message: value } });
    }
    variants.push({ ...base, err: { code: 'c', message: 'm', extra: 1 } });
    variants.push(
      JSON.parse(`{"__proto__": 1, "id": "a", "t": "x", "f": "${id}", "to": "*", "ttl": 0}`),
    );
    for (const x of variants)
      expect([x, isEnvelope(x)]).toEqual([x, v.safeParse(EnvelopeSchema, x).success]);
  });

  it('encodes non-ASCII headers and leaves headroom', () => {
    const e: Envelope = { ...env, b: { s: 'é€😀' } };
    const bytes = encodePacket({ env: e, bin: new Uint8Array([7]) }, 1);
    expect(decodePacket(bytes.subarray(1))).toEqual({ env: e, bin: new Uint8Array([7]) });
  });
});
