import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  isRunBody,
  isRunResult,
  RunResultSchema,
  RunSchema,
} from '../../src/core/compute/protocol.ts';

const k = `k-${'0a'.repeat(32)}`;
const values: unknown[] = [
  undefined,
  null,
  0,
  1,
  -1,
  1.5,
  NaN,
  Infinity,
  3_600_000,
  3_600_001,
  '',
  'x',
  k,
  'a'.repeat(65),
  'a'.repeat(4001),
  'a'.repeat(8001),
  [],
  [1],
  {},
];

/** Every variant of `base` with one key set to each value, removed, or added. */
function variants(base: Record<string, unknown>, extraKeys: string[] = []): unknown[] {
  const out: unknown[] = [base, null, [], 'x', 1];
  for (const key of [...Object.keys(base), 'extra', '__proto__', ...extraKeys]) {
    const rest = { ...base };
    delete rest[key];
    out.push(rest);
    for (const value of values) {
      out.push({ ...base, [key]: value });
      if (value !== undefined) out.push(JSON.parse(JSON.stringify({ ...base, [key]: value })));
    }
  }
  return out;
}

describe('hand-written compute message checks', () => {
  it('isRunBody accepts exactly what RunSchema accepts', () => {
    const all = variants({ k, timeoutMs: 1000, items: [1, { a: 2 }] });
    all.push(JSON.parse(`{"__proto__": 1, "k": "${k}", "timeoutMs": 5, "items": []}`));
    for (const x of all) expect([x, isRunBody(x)]).toEqual([x, v.safeParse(RunSchema, x).success]);
  });

  it('isRunResult accepts exactly what RunResultSchema accepts', () => {
    const err = { code: 'KERNEL_ERROR', message: 'boom', stack: 'at x' };
    const items: unknown[] = [
      { ok: 1 },
      { ok: undefined },
      { ok: { nested: [1] } },
      { err },
      { err: { code: 'C', message: 'm' } },
      ...variants(err).map((e) => ({ err: e })),
      ...values,
      { ok: 1, err },
      { ok: 1, extra: 2 },
      { err, extra: 2 },
    ];
    const all: unknown[] = variants({ results: [{ ok: 1 }], ms: 2, itemMs: 0.5 });
    for (const item of items) {
      all.push({ results: [item], ms: 1 });
      all.push({ results: [{ ok: 1 }, item], ms: 1, itemMs: 1 });
    }
    for (const x of all)
      expect([x, isRunResult(x)]).toEqual([x, v.safeParse(RunResultSchema, x).success]);
  });
});
