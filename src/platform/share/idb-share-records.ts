import { openDB, type IDBPDatabase } from 'idb';
import { ArgumentError } from '../../core/errors.ts';
import type { ShareRecord, ShareRecords } from '../../core/share/share-records.ts';

/**
 * The owner's share records in IndexedDB (database `wos-shares`, store `records` by share id),
 * shared by the tabs of a profile: each tab serves the profile's shares, and a download is
 * counted in one readwrite transaction (get, check, put), so several serving tabs keep one
 * count. Records hold no keys (the link holds them).
 */
const DB = 'wos-shares';
const STORE = 'records';

function db(): Promise<IDBPDatabase> {
  return openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore(STORE, { keyPath: 'id' });
    },
  });
}

async function use<T>(f: (d: IDBPDatabase) => Promise<T>): Promise<T> {
  const d = await db();
  try {
    return await f(d);
  } finally {
    d.close();
  }
}

export class IdbShareRecords implements ShareRecords {
  get(id: string): Promise<ShareRecord | undefined> {
    return use(async (d) => (await d.get(STORE, id)) as ShareRecord | undefined);
  }

  list(): Promise<ShareRecord[]> {
    return use(async (d) => (await d.getAll(STORE)) as ShareRecord[]);
  }

  add(record: ShareRecord): Promise<void> {
    return use(async (d) => {
      try {
        await d.add(STORE, { ...record });
      } catch {
        throw new ArgumentError(`share ${record.id} exists`);
      }
    });
  }

  update(
    id: string,
    fn: (r: ShareRecord) => ShareRecord | undefined,
  ): Promise<ShareRecord | undefined> {
    return use(async (d) => {
      const tx = d.transaction(STORE, 'readwrite');
      const cur = (await tx.store.get(id)) as ShareRecord | undefined;
      let out = cur;
      if (cur) {
        const next = fn({ ...cur });
        if (next) {
          out = { ...next, id: cur.id, file: cur.file };
          await tx.store.put(out);
        }
      }
      await tx.done;
      return out && { ...out };
    });
  }
}
