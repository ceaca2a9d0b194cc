import { describe, expect, it } from 'vitest';
import { LeaseTable, plan, type Candidate } from '../../src/core/compute/scheduler.ts';
import { emptyResources, type Resources } from '../../src/core/resources.ts';

const node = (
  id: string,
  workers: number,
  extra: Partial<Resources> = {},
  leased = 0,
  reliability = 1,
): Candidate => ({
  id,
  resources: {
    ...emptyResources(),
    compute: { workers, gpu: false },
    visibility: 'visible',
    ...extra,
  },
  leased,
  reliability,
});

describe('scheduler', () => {
  const rtt = { b: 0.5, c: 5, d: 0.4 };

  it('prefers local execution when local is as good', () => {
    const slots = plan([node('a', 4), node('b', 4)], { kind: 'cpu', n: 2, requester: 'a' }, rtt);
    expect(slots).toEqual([{ node: 'a', workers: 2 }]);
  });

  it('takes the best nodes first and spreads only as far as needed', () => {
    const slots = plan(
      [node('a', 2), node('b', 4), node('c', 4)],
      { kind: 'cpu', n: 5, requester: 'a' },
      rtt,
    );
    expect(slots).toEqual([
      { node: 'b', workers: 4 },
      { node: 'a', workers: 1 },
    ]);
  });

  it('respects donation limits and existing leases, and oversubscribes only when it must', () => {
    const cands = [node('a', 0), node('b', 2, {}, 2), node('c', 2)];
    expect(plan(cands, { kind: 'cpu', n: 2, requester: 'a' }, rtt)).toEqual([
      { node: 'c', workers: 2 },
    ]);
    const all = plan(cands, { kind: 'cpu', n: 5, requester: 'a' }, rtt);
    expect(all.find((s) => s.node === 'a')).toBeUndefined();
    expect(all.reduce((n, s) => n + s.workers, 0)).toBe(5);
  });

  it('ranks hidden tabs and unreliable nodes lower, and excludes on request', () => {
    const cands = [node('b', 4, { visibility: 'hidden' }), node('c', 4), node('d', 4, {}, 0, 0.2)];
    expect(plan(cands, { kind: 'cpu', n: 1, requester: 'a' }, rtt)[0]!.node).toBe('c');
    expect(
      plan(cands, { kind: 'cpu', n: 1, requester: 'a', exclude: ['c'] }, rtt)[0]!.node,
    ).not.toBe('c');
  });

  it('gives gpu requests one node that has a GPU', () => {
    const gpu = node('c', 2);
    gpu.resources.compute.gpu = true;
    expect(plan([node('b', 8), gpu], { kind: 'gpu', n: 1, requester: 'a' }, rtt)).toEqual([
      { node: 'c', workers: 1 },
    ]);
    expect(plan([node('b', 8)], { kind: 'gpu', n: 1, requester: 'a' }, rtt)).toEqual([]);
  });

  it('releases leases on release, expiry and node loss', () => {
    const t = new LeaseTable();
    t.add({
      id: '1',
      requester: 'a',
      kind: 'cpu',
      slots: [{ node: 'b', workers: 2 }],
      expiresAt: 100,
    });
    t.add({
      id: '2',
      requester: 'a',
      kind: 'cpu',
      slots: [{ node: 'c', workers: 1 }],
      expiresAt: 1000,
    });
    t.add({
      id: '3',
      requester: 'x',
      kind: 'cpu',
      slots: [{ node: 'b', workers: 1 }],
      expiresAt: 1000,
    });
    expect(t.leasedOn('b')).toBe(3);
    expect(t.release('2', 'someone-else')).toBe(false);
    t.sweep(200, (id) => id !== 'x');
    expect(t.size()).toBe(1);
    expect(t.leasedOn('b')).toBe(0);
    expect(t.release('2', 'a')).toBe(true);
    expect(t.size()).toBe(0);
  });
});
