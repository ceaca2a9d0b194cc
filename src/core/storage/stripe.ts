import { checkCoderParams } from './erasure.ts';
import { CoderParamsError } from './storage-errors.ts';

/**
 * Cutting a stripe into k equal data shards and back. The last shard is zero padded; the
 * stripe's true length travels in the manifest and `joinStripe` trims to it.
 */

/** Shard size for a stripe of `length` bytes cut into k shards (≥ 1: the coder needs bytes). */
export function shardSizeFor(length: number, k: number): number {
  return Math.max(1, Math.ceil(length / k));
}

/**
 * k shards of `shardSizeFor(stripe.length, k)` bytes: views into `stripe` where a shard is whole
 * (no copy), fresh zero-padded arrays for the last ones of a short stripe.
 */
export function splitStripe(stripe: Uint8Array, k: number): Uint8Array[] {
  checkCoderParams(k, 1);
  const size = shardSizeFor(stripe.length, k);
  const shards: Uint8Array[] = [];
  for (let i = 0; i < k; i++) {
    const start = Math.min(i * size, stripe.length);
    const end = Math.min(start + size, stripe.length);
    if (end - start === size) {
      shards.push(stripe.subarray(start, end));
    } else {
      const padded = new Uint8Array(size);
      padded.set(stripe.subarray(start, end));
      shards.push(padded);
    }
  }
  return shards;
}

/** The first `length` bytes of the concatenated data shards (the padding must be zero). */
export function joinStripe(data: readonly Uint8Array[], length: number): Uint8Array {
  const k = data.length;
  checkCoderParams(k, 1);
  const size = data[0]!.length;
  if (data.some((s) => s.length !== size)) {
    throw new CoderParamsError('data shards differ in size');
  }
  if (!Number.isInteger(length) || length < 0 || length > k * size) {
    throw new CoderParamsError(`stripe length ${length} does not fit ${k} shards of ${size} bytes`);
  }
  if (shardSizeFor(length, k) !== size) {
    throw new CoderParamsError(`a ${length}-byte stripe is not cut into ${k} shards of ${size}`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < k && i * size < length; i++) {
    out.set(data[i]!.subarray(0, Math.min(size, length - i * size)), i * size);
  }
  for (let i = 0; i < k; i++) {
    const from = Math.max(0, Math.min(size, length - i * size));
    if (data[i]!.subarray(from).some((b) => b !== 0)) {
      throw new CoderParamsError(`shard ${i} has non-zero padding past the stripe length`);
    }
  }
  return out;
}
