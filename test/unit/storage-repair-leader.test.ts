import { describe, expect, it } from 'vitest';
import { leadsDevice } from '../../src/core/storage/storage-service.ts';

/** Scheduled repair passes run in one tab per device: the lowest live node id of the device. */
describe('leadsDevice', () => {
  const node = (id: string, alive: string[]) => ({
    id,
    members: { alive: () => alive.map((m) => ({ id: m })) } as never,
  });
  const dev = 'abcdefghijklmnop';
  const other = 'qrstuvwxyzabcdef';

  it('is the lowest id among the live nodes of its own device only', () => {
    expect(leadsDevice(node(`${dev}-bbbbbbbb`, [`${dev}-cccccccc`, `${other}-aaaaaaaa`]))).toBe(
      true,
    );
    expect(leadsDevice(node(`${dev}-bbbbbbbb`, [`${dev}-aaaaaaaa`]))).toBe(false);
    expect(leadsDevice(node(`${dev}-bbbbbbbb`, []))).toBe(true);
  });
});
