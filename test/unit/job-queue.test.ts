import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/core/compute/job-queue.ts';

const job = (index: number, exclude: string[] = []) => ({
  index,
  excludeDevices: new Set(exclude),
});

describe('JobQueue', () => {
  it('hands out jobs in order, skips done and excluded ones, retries first', () => {
    const done = new Set<number>();
    const isDone = (j: { index: number }) => done.has(j.index);
    const q = new JobQueue([job(0), job(1, ['a']), job(2), job(3), job(4)]);
    expect(q.take('a', 2, isDone).map((j) => j.index)).toEqual([0, 2]);
    done.add(3);
    expect(q.take('a', 5, isDone).map((j) => j.index)).toEqual([4]);
    expect(q.anyFor('a', isDone)).toBe(false);
    expect(q.anyFor('b', isDone)).toBe(true);
    q.retry(job(0));
    expect(q.pending(isDone)).toBe(2);
    expect(q.take('b', 5, isDone).map((j) => j.index)).toEqual([0, 1]);
    expect(q.size).toBe(0);
  });

  it('takes 100,000 jobs one at a time in linear time', () => {
    const n = 100_000;
    const q = new JobQueue([...Array(n).keys()].map((i) => job(i)));
    const t0 = performance.now();
    let got = 0;
    while (q.take('a', 1, () => false).length > 0) got++;
    expect(got).toBe(n);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
