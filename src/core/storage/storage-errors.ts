import { WosError } from '../errors.ts';

/**
 * Errors of the storage primitives (erasure coder, cipher). Each has a stable `code`; the
 * messages say what was wrong and what to do.
 */

/** k, m or the shard sizes given to the erasure coder are invalid (checked before the wasm runs). */
export class CoderParamsError extends WosError {
  constructor(detail: string) {
    super('BAD_CODER_PARAMS', `invalid erasure-coding parameters: ${detail}`);
  }
}

/** Fewer than k shards of a stripe are present: the stripe cannot be rebuilt from them. */
export class NotEnoughShardsError extends WosError {
  readonly present: number;
  readonly needed: number;
  constructor(present: number, needed: number) {
    super(
      'NOT_ENOUGH_SHARDS',
      `only ${present} of the ${needed} shards needed to rebuild the stripe are present; ` +
        'fetch more shards from other holders',
    );
    this.present = present;
    this.needed = needed;
  }
}

/** The wasm coder failed in a way validation should have prevented; its instance was discarded. */
export class CoderFailedError extends WosError {
  constructor(detail: string, cause?: unknown) {
    super('CODER_FAILED', `the Reed-Solomon coder failed: ${detail}; retry`, { cause });
  }
}

/** AES-GCM authentication failed: the key is wrong or the bytes were altered. */
export class WrongKeyOrCorruptError extends WosError {
  constructor(what: string) {
    super(
      'WRONG_KEY_OR_CORRUPT',
      `${what} failed authentication: the key is wrong or the data was altered; ` +
        'check the key, then refetch the data from another holder',
    );
  }
}

/** A chunk authenticated, but at another position than the one it was read at. */
export class ChunkOutOfOrderError extends WosError {
  readonly expected: number;
  readonly found: number | undefined;
  constructor(expected: number, found: number | undefined, detail: string) {
    super('CHUNK_OUT_OF_ORDER', `chunk ${expected}: ${detail}; the chunks were reordered`);
    this.expected = expected;
    this.found = found;
  }
}

/** The chunk sequence ended before its final chunk (the one sealed with the last flag). */
export class TruncatedError extends WosError {
  constructor(detail: string) {
    super('TRUNCATED', `the encrypted stream is truncated: ${detail}`);
  }
}
