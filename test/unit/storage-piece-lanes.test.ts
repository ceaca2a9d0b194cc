import { describe, expect, it } from 'vitest';
import { PieceLanes } from '../../src/core/storage/piece-lanes.ts';

/** The per-store window of shard pieces an upload shares among its stripes (piece-lanes.ts). */
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

describe('PieceLanes', () => {
  it('lets `width` pieces per store go at once; others wait, earliest stripe then offset first', async () => {
    const lanes = new PieceLanes(2);
    const order: string[] = [];
    const take = (store: string, stripe: number, at: number) =>
      lanes.take(store, stripe, at).then((release) => {
        order.push(`${store}:${stripe}@${at}`);
        return release;
      });
    const first = await Promise.all([take('A', 1, 0), take('A', 1, 10)]);
    // A later stripe asks first, then the earlier stripe's pieces in any order.
    const waiting = [take('A', 2, 0), take('A', 1, 30), take('A', 1, 20)];
    // Another store has its own window.
    const other = await take('B', 5, 0);
    await tick();
    expect(lanes.waiting('A')).toBe(3);
    first[0]!();
    first[0]!(); // a second call frees nothing more
    await tick();
    expect(lanes.waiting('A')).toBe(2);
    first[1]!();
    await tick();
    const rest = await Promise.all(waiting.slice(1));
    rest.forEach((r) => r());
    await waiting[0];
    expect(order).toEqual(['A:1@0', 'A:1@10', 'B:5@0', 'A:1@20', 'A:1@30', 'A:2@0']);
    other();
    expect(lanes.waiting('A')).toBe(0);
  });

  it('an aborted wait leaves the queue and rejects with ABORTED', async () => {
    const lanes = new PieceLanes(1);
    const held = await lanes.take('A', 0, 0);
    const ctl = new AbortController();
    const gone = lanes.take('A', 0, 10, ctl.signal);
    const next = lanes.take('A', 1, 0);
    ctl.abort(new Error('stop'));
    await expect(gone).rejects.toMatchObject({ code: 'ABORTED' });
    expect(lanes.waiting('A')).toBe(1);
    held();
    (await next)();
    await expect(lanes.take('A', 0, 0, ctl.signal)).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
