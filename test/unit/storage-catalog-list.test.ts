import { describe, expect, it } from 'vitest';
import { Catalog } from '../../src/core/storage/catalog.ts';
import type { StorageContext } from '../../src/core/storage/storage-context.ts';

/** Listing files from a peer that does not page honestly (it ignores `after`). */
describe('Catalog.list against a dishonest holder', () => {
  it('stops asking once the pages stop moving, and keeps a few tombstones per file', async () => {
    let pages = 0;
    const tomb = { file: 'A'.repeat(22), owner: 'B'.repeat(87), sig: 'C'.repeat(86) };
    const ctx = {
      keyRing: { all: [{ tag: 'T'.repeat(22) }] },
      dir: { selfNode: 'self', nodesOf: () => [], storeOf: () => undefined },
      peers: () => ['evil'],
      opts: { requestTimeoutMs: 1000 },
      bus: {
        request: async (node: string) => {
          if (node === 'self') return { body: { items: [], tombstones: [], more: false } };
          pages++;
          // The same file's tombstones on every page, and always "more".
          return { body: { items: [], tombstones: Array(256).fill(tomb), more: true } };
        },
      },
    } as unknown as StorageContext;
    expect(await new Catalog(ctx).list()).toEqual([]);
    expect(pages).toBe(2);
  });
});
