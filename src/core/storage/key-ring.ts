import { ArgumentError } from '../errors.ts';
import { importStorageRootKey } from './keys.ts';
import { deriveListTag } from './owner.ts';
import { EpochKeyMissingError } from './service-errors.ts';

/**
 * The storage root keys a client holds, one per storage epoch. Without an account there is one
 * root, epoch 0 (`singleRootRing`). With an account, epoch 0 derives from the account secret
 * and every revocation starts a new epoch with a fresh key granted only to the devices that
 * remain (ACCOUNTS.md, "Storage epochs"): new files are written under `current`, every file
 * records its epoch in its manifest and is opened with that epoch's root, and `list()` asks
 * for the listing tag of every epoch held. A ring is an immutable snapshot; a client switches
 * to a newer one with `StorageClient.setKeyRing` when the device learns a key.
 */
export interface EpochRoot {
  readonly epoch: number;
  /** The epoch's storage root key (HKDF, non-extractable): per-file keys derive from it. */
  readonly root: CryptoKey;
  /** The listing tag derived from `root` (owner.ts `deriveListTag`). */
  readonly tag: string;
}

export interface StorageKeyRing {
  /** The epoch new files are written under (the newest held). */
  readonly current: EpochRoot;
  /** Every epoch held, ascending (`current` included). */
  readonly all: readonly EpochRoot[];
}

export const MAX_EPOCH = 2 ** 32 - 1;

/** The root of `epoch`, or EPOCH_KEY_MISSING when this ring does not hold it. */
export function rootOfEpoch(ring: StorageKeyRing, epoch: number, file?: string): EpochRoot {
  const r = ring.all.find((x) => x.epoch === epoch);
  if (!r) throw new EpochKeyMissingError(epoch, file);
  return r;
}

/** A ring of the given epochs' roots; the newest is current. */
export async function keyRingOf(
  subtle: SubtleCrypto,
  roots: readonly { epoch: number; root: CryptoKey }[],
): Promise<StorageKeyRing> {
  if (roots.length === 0) throw new ArgumentError('a storage key ring needs at least one root');
  const seen = new Set<number>();
  for (const { epoch } of roots) {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH || seen.has(epoch)) {
      throw new ArgumentError(`storage epoch ${epoch} is not a distinct whole number ≥ 0`);
    }
    seen.add(epoch);
  }
  const all = await Promise.all(
    [...roots]
      .sort((a, b) => a.epoch - b.epoch)
      .map(async ({ epoch, root }) => ({ epoch, root, tag: await deriveListTag(subtle, root) })),
  );
  return { current: all.at(-1)!, all };
}

/** One root, epoch 0: storage without an account (a per-profile key). */
export function singleRootRing(subtle: SubtleCrypto, root: CryptoKey): Promise<StorageKeyRing> {
  return keyRingOf(subtle, [{ epoch: 0, root }]);
}

/**
 * The ring of every epoch a source holds (an account session: `epochs` and
 * `storageRootKey(epoch)`), read again on each call: build a new one when it learns a key.
 */
export async function keyRingFrom(
  subtle: SubtleCrypto,
  source: { readonly epochs: readonly number[]; storageRootKey(epoch: number): Promise<CryptoKey> },
): Promise<StorageKeyRing> {
  const epochs = [...new Set(source.epochs)];
  return keyRingOf(
    subtle,
    await Promise.all(
      epochs.map(async (epoch) => ({ epoch, root: await source.storageRootKey(epoch) })),
    ),
  );
}

/** `ring` plus the root of `epoch` (the newest held becomes current); `ring` if it holds it. */
export async function withEpochRoot(
  subtle: SubtleCrypto,
  ring: StorageKeyRing,
  epoch: number,
  root: CryptoKey,
): Promise<StorageKeyRing> {
  if (ring.all.some((r) => r.epoch === epoch)) return ring;
  return keyRingOf(subtle, [...ring.all, { epoch, root }]);
}

/**
 * Keeps `files` on the newest storage epoch: each `epoch` event of `source` (the personal
 * mesh's revocation service: a key this device was granted or made by revoking a device)
 * adds that epoch's root to the ring, so new files are written under it without a reload.
 * Returns a promise of the switches so far (for tests).
 */
export function followEpochKeys(
  subtle: SubtleCrypto,
  source: { on(type: 'epoch', fn: (e: { epoch: number; key: Uint8Array }) => void): unknown },
  files: { readonly keyRing: StorageKeyRing; setKeyRing(ring: StorageKeyRing): void },
  onError: (e: unknown) => void = () => {},
): () => Promise<void> {
  let switching = Promise.resolve();
  source.on('epoch', (e) => {
    // Imported now: the raw key is copied before anyone can clear it.
    const root = importStorageRootKey(subtle, e.key);
    root.catch(() => {}); // handled below, in turn
    switching = switching
      .then(async () =>
        files.setKeyRing(await withEpochRoot(subtle, files.keyRing, e.epoch, await root)),
      )
      .catch(onError);
  });
  return () => switching;
}
