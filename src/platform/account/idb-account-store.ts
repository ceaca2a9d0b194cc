import { openDB, type IDBPDatabase } from 'idb';
import type {
  AccountStore,
  DeviceAccountKeys,
  StoredAccount,
} from '../../core/account/account-store.ts';

/**
 * This profile's account in IndexedDB (database `wos-account`), shared by every tab:
 * - `device/keys`: the device wrap key (non-extractable AES-GCM `CryptoKey`) and the box key
 *   pair (ECDH, private key non-extractable), stored as structured-cloned `CryptoKey`s;
 * - `account/current`: handle, account public key, certificate, revocation list and the
 *   wrapped secrets (account secret, epoch keys, login key) — ciphertext only;
 * - `account/grant:<device>/<epoch>`: epoch grants relayed for other devices (sealed, signed).
 *
 * Changes to the record run under the Web Lock `wos-account-record` (`exclusive`).
 */
const DB = 'wos-account';
const LOCK = 'wos-account-record';
const GRANT = 'grant:';
// Every key that starts with GRANT (';' follows ':' in code-unit order).
const grantKeys = (): IDBKeyRange => IDBKeyRange.bound(GRANT, 'grant;', false, true);

function db(): Promise<IDBPDatabase> {
  return openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore('device');
      d.createObjectStore('account');
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

export class IdbAccountStore implements AccountStore {
  #keys: Promise<DeviceAccountKeys> | undefined;
  #turn: Promise<unknown> = Promise.resolve();

  /** A Web Lock shared by every tab of the profile (an in-tab queue where there is none). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const locks = globalThis.navigator?.locks;
    if (locks) return locks.request(LOCK, fn) as Promise<T>;
    const run = this.#turn.then(fn);
    this.#turn = run.catch(() => {});
    return run;
  }

  deviceKeys(make: () => Promise<DeviceAccountKeys>): Promise<DeviceAccountKeys> {
    this.#keys ??= use(async (d) => {
      const have = (await d.get('device', 'keys')) as DeviceAccountKeys | undefined;
      if (have) return have;
      const made = await make();
      // Two tabs may race here; `add` fails for the loser, which then reads the winner's keys.
      try {
        await d.add('device', made, 'keys');
        return made;
      } catch {
        return (await d.get('device', 'keys')) as DeviceAccountKeys;
      }
    });
    this.#keys.catch(() => (this.#keys = undefined));
    return this.#keys;
  }

  load(): Promise<StoredAccount | undefined> {
    return use(async (d) => (await d.get('account', 'current')) as StoredAccount | undefined);
  }

  save(account: StoredAccount): Promise<void> {
    return use(async (d) => {
      await d.put('account', account, 'current');
    });
  }

  clear(): Promise<void> {
    return use(async (d) => {
      const tx = d.transaction('account', 'readwrite');
      await Promise.all([tx.store.delete('current'), tx.store.delete(grantKeys()), tx.done]);
    });
  }

  loadGrants(): Promise<unknown[]> {
    return use((d) => d.getAll('account', grantKeys()));
  }

  putGrant(id: string, grant: unknown): Promise<void> {
    return use(async (d) => {
      await d.put('account', grant, GRANT + id);
    });
  }

  deleteGrant(id: string): Promise<void> {
    return use(async (d) => {
      await d.delete('account', GRANT + id);
    });
  }
}
