import { describe, expect, it } from 'vitest';
import { RepairScheduler } from '../../src/core/storage/repair-scheduler.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';

/** A pass that takes `ms` of clock time and records when it started. */
function setup(passMs = 0) {
  const clock = new ManualClock();
  const t0 = clock.now();
  const starts: number[] = [];
  let fail = false;
  const pass = async (): Promise<void> => {
    starts.push(clock.now() - t0);
    if (passMs > 0) await new Promise<void>((r) => clock.setTimeout(r, passMs));
    if (fail) throw new Error('every holder offline');
  };
  const s = new RepairScheduler(clock, pass, { intervalMs: 60_000, settleMs: 2_000 });
  return { clock, s, starts, failNext: () => (fail = true) };
}

describe('RepairScheduler', () => {
  it('passes every interval once started, and not after stop', async () => {
    const { clock, s, starts } = setup();
    s.start();
    await clock.advance(125_000, 1000);
    expect(starts).toEqual([60_000, 120_000]);
    s.stop();
    await clock.advance(200_000, 1000);
    expect(starts).toHaveLength(2);
  });

  it('a kick brings the next pass forward to settleMs, and joins in a burst make one pass', async () => {
    const { clock, s, starts } = setup();
    s.start();
    await clock.advance(10_000, 100);
    s.kick();
    await clock.advance(500, 100);
    s.kick();
    s.kick();
    await clock.advance(5_000, 100);
    // Fired 2 s after the first kick (later kicks do not push it back), then back to the interval.
    expect(starts).toEqual([12_000]);
    await clock.advance(60_000, 1000);
    expect(starts).toEqual([12_000, 72_000]);
  });

  it('kicks during a pass make exactly one more pass after it', async () => {
    const { clock, s, starts } = setup(5_000);
    s.start();
    s.kick();
    await clock.advance(3_000, 100); // pass running since 2 s
    expect(s.running).toBe(true);
    s.kick();
    s.kick();
    await clock.advance(10_000, 100);
    expect(starts).toEqual([2_000, 9_000]);
  });

  it('a failing pass is retried at the next tick, and kicks before start do nothing', async () => {
    const { clock, s, starts, failNext } = setup();
    s.kick();
    await clock.advance(5_000, 100);
    expect(starts).toEqual([]);
    failNext();
    s.start();
    await clock.advance(121_000, 1000);
    // Started 5 s in; the first pass failed and the loop went on.
    expect(starts).toEqual([65_000, 125_000]);
  });

  it('rejects a bad schedule', () => {
    expect(
      () => new RepairScheduler(new ManualClock(), async () => {}, { intervalMs: 0, settleMs: 1 }),
    ).toThrow(/intervalMs must be > 0/);
  });
});
