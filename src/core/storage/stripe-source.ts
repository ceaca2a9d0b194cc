import { ArgumentError } from '../errors.ts';

/**
 * Reads what `put` was given — a Blob (or File), a ReadableStream of bytes, or bytes — as
 * stripes of a fixed size, one at a time, so a file of several GiB never sits in memory: a
 * Blob is sliced, a stream is read just far enough to fill the next stripe.
 */
export type PutData = Blob | ReadableStream<Uint8Array> | Uint8Array;

export interface StripeSource {
  /** Total bytes, when known up front (Blob, bytes). */
  readonly size: number | undefined;
  /**
   * The next `stripeBytes` bytes (fewer only for the last stripe); undefined at the end. Each is
   * a fresh array of the caller's own, spanning its buffer: the uploader hands it to a coder
   * worker, which takes the buffer (never the buffer of what `put` was given).
   */
  next(): Promise<Uint8Array | undefined>;
  /** Whether nothing remains (reads ahead at most one chunk of a stream). */
  atEnd(): Promise<boolean>;
  /** Stops reading and releases the input. */
  cancel(reason?: unknown): Promise<void>;
}

function isStream(d: unknown): d is ReadableStream<Uint8Array> {
  return typeof (d as ReadableStream | undefined)?.getReader === 'function';
}

export function stripeSource(data: PutData, stripeBytes: number): StripeSource {
  if (!Number.isSafeInteger(stripeBytes) || stripeBytes < 1) {
    throw new ArgumentError(`stripe size must be a positive integer, got ${stripeBytes}`);
  }
  if (data instanceof Uint8Array) return bytesSource(data, stripeBytes);
  if (typeof Blob !== 'undefined' && data instanceof Blob) return blobSource(data, stripeBytes);
  if (isStream(data)) return streamSource(data, stripeBytes);
  throw new ArgumentError('data must be a Blob, a ReadableStream of Uint8Array or a Uint8Array');
}

function bytesSource(data: Uint8Array, stripeBytes: number): StripeSource {
  let off = 0;
  return {
    size: data.length,
    next: async () => {
      if (off >= data.length) return undefined;
      // A copy: the caller's array stays theirs (and `new Uint8Array`, not `slice`, which is a
      // view on a Node Buffer).
      const out = new Uint8Array(data.subarray(off, off + stripeBytes));
      off += out.length;
      return out;
    },
    atEnd: async () => off >= data.length,
    cancel: async () => {
      off = data.length;
    },
  };
}

function blobSource(blob: Blob, stripeBytes: number): StripeSource {
  let off = 0;
  return {
    size: blob.size,
    next: async () => {
      if (off >= blob.size) return undefined;
      const end = Math.min(blob.size, off + stripeBytes);
      const out = new Uint8Array(await blob.slice(off, end).arrayBuffer());
      if (out.length !== end - off) throw new ArgumentError('the Blob changed while being read');
      off = end;
      return out;
    },
    atEnd: async () => off >= blob.size,
    cancel: async () => {
      off = blob.size;
    },
  };
}

function streamSource(stream: ReadableStream<Uint8Array>, stripeBytes: number): StripeSource {
  const reader = stream.getReader();
  const pending: Uint8Array[] = [];
  let buffered = 0;
  let done = false;

  const pull = async (): Promise<void> => {
    const r = await reader.read();
    if (r.done) {
      done = true;
      return;
    }
    if (!(r.value instanceof Uint8Array)) {
      throw new ArgumentError('the stream must yield Uint8Array chunks');
    }
    if (r.value.length > 0) {
      pending.push(r.value);
      buffered += r.value.length;
    }
  };

  return {
    size: undefined,
    async next() {
      while (!done && buffered < stripeBytes) await pull();
      if (buffered === 0) return undefined;
      const out = new Uint8Array(Math.min(stripeBytes, buffered));
      let o = 0;
      while (o < out.length) {
        const head = pending[0]!;
        const take = Math.min(head.length, out.length - o);
        out.set(head.subarray(0, take), o);
        o += take;
        if (take === head.length) pending.shift();
        else pending[0] = head.subarray(take);
      }
      buffered -= out.length;
      return out;
    },
    async atEnd() {
      while (!done && buffered === 0) await pull();
      return buffered === 0;
    },
    async cancel(reason) {
      done = true;
      pending.length = 0;
      buffered = 0;
      await reader.cancel(reason).catch(() => {});
    },
  };
}
