import type { Channel } from './transport.ts';
import { ClosedError, MessageTooLargeError } from './errors.ts';

/**
 * Splits messages above a channel's frame limit (256 KiB for WebRTC data channels) into frames
 * and joins them on the other side. Frame layout: 1 flag byte then payload; a first frame of a
 * split message carries the total length (u32 big-endian) so the receiver can refuse oversized
 * messages before buffering them.
 */
const WHOLE = 0;
const FIRST = 1;
const MORE = 2;
const LAST = 3;

export interface FramedChannelOptions {
  /** Largest reassembled message accepted; larger ones are dropped and reported. */
  maxMessageBytes: number;
  onMessage: (message: Uint8Array) => void;
  /** Called for protocol violations (oversized, out of order); the message is dropped. */
  onReject: (reason: 'oversized' | 'bad-frame', detail: string) => void;
}

export class FramedChannel {
  readonly #channel: Channel;
  readonly #opts: FramedChannelOptions;
  #parts: Uint8Array[] | undefined;
  #expected = 0;
  #received = 0;
  #discarding = false;
  #tail: Promise<void> = Promise.resolve();
  /** Sends started and not yet finished. */
  #inflight = 0;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(channel: Channel, opts: FramedChannelOptions) {
    this.#channel = channel;
    this.#opts = opts;
    channel.onFrame = (f) => this.#onFrame(f);
  }

  get channel(): Channel {
    return this.#channel;
  }

  /**
   * Sends one message. Sends are queued: the frames of a split message must never interleave
   * with another message's frames, and a split send awaits backpressure between frames.
   */
  send(message: Uint8Array): Promise<void> {
    return this.#enqueue(message, false);
  }

  /**
   * Sends `buffer.subarray(1)`: byte 0 is free for the frame flag, so a message that fits one
   * frame goes out without being copied (see `encodePacket`'s headroom).
   */
  sendReserved(buffer: Uint8Array): Promise<void> {
    return this.#enqueue(buffer, true);
  }

  #enqueue(bytes: Uint8Array, reserved: boolean): Promise<void> {
    // Nothing queued: start at once instead of a task later.
    const run =
      this.#inflight === 0
        ? this.#sendNow(bytes, reserved)
        : this.#tail.then(() => this.#sendNow(bytes, reserved));
    this.#inflight++;
    const done = run.then(
      () => void this.#inflight--,
      () => void this.#inflight--,
    );
    this.#tail = done;
    return run;
  }

  async #sendNow(bytes: Uint8Array, reserved: boolean): Promise<void> {
    if (!this.#channel.open) throw new ClosedError(`channel to ${this.#channel.remoteId}`);
    const message = reserved ? bytes.subarray(1) : bytes;
    if (message.length > this.#opts.maxMessageBytes) {
      throw new MessageTooLargeError(message.length, this.#opts.maxMessageBytes);
    }
    this.bytesSent += message.length;
    const max = this.#channel.maxFrameBytes - 1;
    if (message.length <= max) {
      if (reserved) {
        bytes[0] = WHOLE;
        return this.#channel.send(bytes);
      }
      const f = new Uint8Array(message.length + 1);
      f[0] = WHOLE;
      f.set(message, 1);
      return this.#channel.send(f);
    }
    const first = new Uint8Array(Math.min(max, 5 + message.length));
    first[0] = FIRST;
    new DataView(first.buffer).setUint32(1, message.length);
    let off = first.length - 5;
    first.set(message.subarray(0, off), 5);
    await this.#channel.send(first);
    while (off < message.length) {
      const n = Math.min(max, message.length - off);
      const f = new Uint8Array(n + 1);
      f[0] = off + n === message.length ? LAST : MORE;
      f.set(message.subarray(off, off + n), 1);
      off += n;
      await this.#channel.send(f);
    }
  }

  #onFrame(frame: Uint8Array): void {
    if (frame.length === 0) return this.#opts.onReject('bad-frame', 'empty frame');
    const flag = frame[0];
    if (flag === WHOLE) {
      if (this.#parts) return this.#abandon('whole frame inside a split message');
      if (frame.length - 1 > this.#opts.maxMessageBytes) {
        return this.#opts.onReject('oversized', `${frame.length - 1} bytes`);
      }
      this.bytesReceived += frame.length - 1;
      return this.#opts.onMessage(frame.subarray(1));
    }
    if (flag === FIRST) {
      if (this.#parts) return this.#abandon('new split message before the last one ended');
      if (frame.length < 5) return this.#opts.onReject('bad-frame', 'short first frame');
      const total = new DataView(frame.buffer, frame.byteOffset).getUint32(1);
      if (total > this.#opts.maxMessageBytes) {
        // Skip its remaining frames without buffering them.
        this.#discarding = true;
        this.#parts = [];
        this.#expected = total;
        this.#received = frame.length - 5;
        return this.#opts.onReject('oversized', `${total} bytes announced`);
      }
      this.#parts = [frame.slice(5)];
      this.#expected = total;
      this.#received = frame.length - 5;
      return;
    }
    if (flag === MORE || flag === LAST) {
      if (!this.#parts) return this.#opts.onReject('bad-frame', 'continuation without a start');
      this.#received += frame.length - 1;
      if (this.#received > this.#expected) return this.#abandon('more bytes than announced');
      if (!this.#discarding) this.#parts.push(frame.slice(1));
      if (flag === LAST) {
        const parts = this.#parts;
        const discarding = this.#discarding;
        const complete = this.#received === this.#expected;
        this.#parts = undefined;
        this.#discarding = false;
        if (discarding) return;
        if (!complete) return this.#opts.onReject('bad-frame', 'fewer bytes than announced');
        const out = new Uint8Array(this.#expected);
        let o = 0;
        for (const p of parts) {
          out.set(p, o);
          o += p.length;
        }
        this.bytesReceived += out.length;
        return this.#opts.onMessage(out);
      }
      return;
    }
    this.#opts.onReject('bad-frame', `unknown frame flag ${flag}`);
  }

  #abandon(detail: string): void {
    this.#parts = undefined;
    this.#discarding = false;
    this.#opts.onReject('bad-frame', detail);
  }
}
