import { openDB, type IDBPDatabase } from 'idb';
import { DEFAULT_CACHE_BYTES } from '../core/storage/file-cache.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  type DeviceIdentity,
} from '../core/identity.ts';

/**
 * The device key pair lives in IndexedDB as WebCrypto keys; the private key is
 * non-extractable, so not even this page's scripts can read it out, only sign with it.
 */
const DB = 'wos-device';

export interface Settings {
  /** Storage this tab offers the mesh, bytes. */
  donatedBytes: number;
  /** CPU workers this tab runs for the mesh. */
  cpuWorkers: number;
  /** Budget of the local cache of recently read files, bytes. */
  cacheBytes: number;
}

/** Default donation: 1 GiB of storage and half the cores (at least one); a 256 MiB cache. */
export function defaultSettings(): Settings {
  return {
    donatedBytes: 1024 ** 3,
    cacheBytes: DEFAULT_CACHE_BYTES,
    cpuWorkers: Math.max(1, Math.floor((navigator.hardwareConcurrency || 2) / 2)),
  };
}

async function db(): Promise<IDBPDatabase> {
  return openDB(DB, 1, {
    upgrade(d) {
      d.createObjectStore('keys');
      d.createObjectStore('settings');
    },
  });
}

export async function loadDeviceIdentity(subtle: SubtleCrypto): Promise<DeviceIdentity> {
  const d = await db();
  let pair = (await d.get('keys', 'device')) as CryptoKeyPair | undefined;
  if (!pair) {
    pair = await generateDeviceKeyPair(subtle);
    // Two tabs may race here; `add` fails for the loser, which then reads the winner's key.
    try {
      await d.add('keys', pair, 'device');
    } catch {
      pair = (await d.get('keys', 'device')) as CryptoKeyPair;
    }
  }
  d.close();
  return identityFromKeyPair(subtle, pair);
}

export async function loadSettings(): Promise<Settings> {
  const d = await db();
  const s = (await d.get('settings', 'donation')) as Partial<Settings> | undefined;
  d.close();
  return { ...defaultSettings(), ...s };
}

export async function saveSettings(s: Settings): Promise<void> {
  const d = await db();
  await d.put('settings', s, 'donation');
  d.close();
}

/**
 * The user's storage root key (until accounts exist): 32 random bytes imported once as a
 * non-extractable HKDF key and kept in IndexedDB, shared by every tab of this profile.
 */
export async function loadStorageRootKey(make: () => Promise<CryptoKey>): Promise<CryptoKey> {
  const d = await db();
  let key = (await d.get('keys', 'storage-root')) as CryptoKey | undefined;
  if (!key) {
    key = await make();
    try {
      await d.add('keys', key, 'storage-root');
    } catch {
      key = (await d.get('keys', 'storage-root')) as CryptoKey;
    }
  }
  d.close();
  return key;
}
