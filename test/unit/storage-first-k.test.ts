import { describe, expect, it } from 'vitest';
import { firstK } from '../../src/core/storage/first-k.ts';

/** An attempt that settles when told, recording what is in flight. */
function harness(fails: Set<number>) {
  const started: number[] = [];
  let inFlight = 0;
  let most = 0;
  const attempt = async (c: number): Promise<boolean> => {
    started.push(c);
    most = Math.max(most, ++inFlight);
    // Later candidates finish first: the order most likely to start a spare attempt.
    await new Promise((r) => setTimeout(r, 20 - c));
    inFlight--;
    return !fails.has(c);
  };
  return { attempt, started, most: () => most };
}

describe('firstK', () => {
  it('attempts exactly k candidates when all succeed, never more than k at once', async () => {
    const h = harness(new Set());
    expect(await firstK([0, 1, 2, 3, 4, 5], 3, h.attempt)).toBe(3);
    expect(h.started).toEqual([0, 1, 2]);
    expect(h.most()).toBe(3);
  });

  it('replaces each failure with the next candidate', async () => {
    const h = harness(new Set([1, 2]));
    expect(await firstK([0, 1, 2, 3, 4, 5], 2, h.attempt)).toBe(2);
    expect(h.started).toEqual([0, 1, 2, 3]);
    expect(h.most()).toBe(2);
  });

  it('returns fewer than k when the candidates run out, and stops on a thrown error', async () => {
    expect(await firstK([0, 1, 2], 3, harness(new Set([1])).attempt)).toBe(2);
    const boom = firstK([0, 1, 2], 2, (c) =>
      c === 1 ? Promise.reject(new Error('share revoked')) : Promise.resolve(true),
    );
    await expect(boom).rejects.toThrow('share revoked');
  });
});
