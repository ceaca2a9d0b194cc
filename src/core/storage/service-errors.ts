import { WosError } from '../errors.ts';

/**
 * Errors of the storage service (holders, placement, put/get, manifests). Each has a stable
 * `code`, also when it comes back from a holder as a RemoteError; messages say what to do.
 */

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(bytes < 1024 * 1024 ? 2 : 1)} MiB`;
}

/** A holder's donated quota (or the whole mesh's) cannot take the bytes; nothing was stored. */
export class QuotaFullError extends WosError {
  constructor(detail: string) {
    super(
      'QUOTA_FULL',
      `storage quota full: ${detail}; free some space, raise the donation or add nodes`,
    );
  }

  static forShard(bytes: number, used: number, quota: number): QuotaFullError {
    return new QuotaFullError(
      `a ${mib(bytes)} shard does not fit (${mib(used)} of ${mib(quota)} used)`,
    );
  }
}

/** The holder has no such shard (never stored, deleted, or collected as an orphan). */
export class ShardNotFoundError extends WosError {
  constructor(what: string) {
    super('NO_SHARD', `${what} is not stored here`);
  }
}

/** Bytes did not match their SHA-256 in the manifest: altered in transit or on the holder. */
export class HashMismatchError extends WosError {
  constructor(what: string) {
    super('HASH_MISMATCH', `${what} does not match its hash; the holder's copy is corrupt`);
  }
}

/** A delete or manifest was not signed by the key that owns the file. */
export class NotOwnerError extends WosError {
  constructor(detail: string) {
    super('NOT_OWNER', `not the file's owner: ${detail}`);
  }
}

/** No holder reachable now has a manifest for this file id. */
export class FileNotFoundError extends WosError {
  constructor(file: string) {
    super(
      'FILE_NOT_FOUND',
      `file ${file} was not found on any reachable holder; it was deleted, never finished ` +
        'uploading, or its holders are offline',
    );
  }
}

/** The file was deleted by its owner (a signed tombstone exists). */
export class FileDeletedError extends WosError {
  constructor(file: string) {
    super('FILE_DELETED', `file ${file} was deleted by its owner`);
  }
}

/** Fewer than k good shards of a stripe are reachable: the file cannot be read now. */
export class FileUnavailableError extends WosError {
  readonly stripe: number;
  constructor(file: string, stripe: number, good: number, k: number, cause?: unknown) {
    super(
      'FILE_UNAVAILABLE',
      `file ${file}: stripe ${stripe} has ${good} good shards reachable but needs ${k}; ` +
        'wait for its holders to come back online' +
        (cause instanceof Error ? ` (last error: ${cause.message})` : ''),
      cause === undefined ? {} : { cause },
    );
    this.stripe = stripe;
  }
}

/** A manifest failed its schema, signature or consistency checks. */
export class BadManifestError extends WosError {
  constructor(detail: string) {
    super('BAD_MANIFEST', `rejected a file manifest: ${detail}`);
  }
}

/** A manifest older than (or conflicting with) the one the holder has was refused. */
export class StaleManifestError extends WosError {
  constructor(file: string, have: number, got: number) {
    super(
      'STALE_MANIFEST',
      `manifest revision ${got} of file ${file} is not newer than the stored ${have}; ` +
        'reload the file and retry',
    );
  }
}

/** No node (not even this one) could take a shard. */
export class NoHolderError extends WosError {
  constructor(detail: string) {
    super('NO_HOLDER', `no holder could store the shard: ${detail}; retry when peers are online`);
  }
}

/**
 * Another node of the same owner re-signed the file while this one repaired it, so holders
 * hold two manifests of one revision; `StorageClient.repair` repairs again from the newest.
 */
export class RepairConflictError extends WosError {
  constructor(file: string, holders: number) {
    super(
      'REPAIR_CONFLICT',
      `file ${file} was repaired by another device at the same time (${holders} holder(s) ` +
        'kept its manifest); repair it again',
    );
  }
}

/** The file was written under a storage epoch whose root key this device does not hold. */
export class EpochKeyMissingError extends WosError {
  readonly epoch: number;
  constructor(epoch: number, file?: string) {
    super(
      'EPOCH_KEY_MISSING',
      `${file === undefined ? 'this file' : `file ${file}`} was stored under storage epoch ` +
        `${epoch}; this device holds no key of storage epoch ${epoch}; approve it from a ` +
        'device that does',
    );
    this.epoch = epoch;
  }
}
