import type { Page } from 'playwright-core';

/**
 * The physical limit for bus benchmarks: a plain RTCPeerConnection pair between the same two
 * pages, set up by the bench itself (SDP exchanged through Node, `iceServers: []`, loopback),
 * one ordered reliable data channel, no framing, no JSON, no validation.
 *
 * Protocol on the channel: the string `sink:<n>` makes the far end count binary bytes until
 * `n` arrived, then answer `done`; any other binary message is echoed back (ping).
 *
 * For A/B diagnostics the pings can emulate the bus's wire work without the bus (`emulate`):
 * JSON envelope → TextEncoder → prefix concat → frame copy on send, and frame → TextDecoder →
 * JSON.parse on receipt, plus a setTimeout/clearTimeout per request; streams can add fresh
 * copies of every message (`copies`), like `encodePacket` and the framing do.
 */
interface RawEnd {
  pc: RTCPeerConnection;
  dc: RTCDataChannel | undefined;
  open: Promise<void>;
  sinkExpect: number;
  sinkGot: number;
  onReply: (() => void) | undefined;
  onDone: (() => void) | undefined;
  /** Echo with emulated wire work (see above). */
  emulate: boolean;
  /** Echo only after running this kernel in the page's sandbox pool (a remote task's floor). */
  viaPool?: { id: string; spec: { kind: 'js'; source: string } } | undefined;
  lastReply: ArrayBuffer | undefined;
  encode(env: unknown): Uint8Array<ArrayBuffer>;
  decode(frame: ArrayBuffer): unknown;
  /** The full local description once ICE gathering is complete (no trickle). */
  described(): Promise<RTCSessionDescriptionInit>;
}

declare global {
  interface Window {
    /** The end of the pair named `main` (most benches have one pair per page). */
    __raw: RawEnd;
    /** Every raw end of the page by pair name (a page may be in several pairs). */
    __rawEnds: Record<string, RawEnd>;
    __rawAttach: (dc: RTCDataChannel, pair: string) => void;
  }
}

export interface Transfer {
  bytes: number;
  ms: number;
}

/** Same marks as the product's PeerJS channel, so backpressure behaves alike. */
const HIGH_WATER = 4 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;

/** Runs in both pages: the channel's message handling, for the pair named `pair`. */
function installRawEnd(pair: string): void {
  const te = new TextEncoder();
  const td = new TextDecoder('utf-8', { fatal: true });
  let opened: () => void = () => {};
  const end: RawEnd = {
    pc: new RTCPeerConnection({ iceServers: [] }),
    dc: undefined,
    open: new Promise<void>((r) => (opened = r)),
    sinkExpect: 0,
    sinkGot: 0,
    onReply: undefined,
    onDone: undefined,
    emulate: false,
    lastReply: undefined,
    encode: (env) => {
      const header = te.encode(JSON.stringify(env));
      const packet = new Uint8Array(5 + header.length);
      packet[0] = 1;
      new DataView(packet.buffer).setUint32(1, header.length);
      packet.set(header, 5);
      const frame = new Uint8Array(packet.length + 1);
      frame.set(packet, 1);
      return frame;
    },
    decode: (frame) => {
      const hlen = new DataView(frame, 1).getUint32(1);
      return JSON.parse(td.decode(new Uint8Array(frame, 6, hlen))) as unknown;
    },
    described: async () => {
      const pc = end.pc;
      if (pc.iceGatheringState !== 'complete') {
        await new Promise<void>((resolve) => {
          pc.addEventListener('icegatheringstatechange', () => {
            if (pc.iceGatheringState === 'complete') resolve();
          });
          pc.addEventListener('icecandidate', (e) => {
            if (e.candidate === null) resolve();
          });
        });
      }
      const d = pc.localDescription;
      if (!d) throw new Error('no local description');
      return { type: d.type, sdp: d.sdp };
    },
  };
  window.__rawEnds = { ...(window.__rawEnds ?? {}), [pair]: end };
  if (pair === 'main') window.__raw = end;
  window.__rawAttach = (dc, name) => {
    const end = window.__rawEnds[name];
    if (!end) throw new Error(`no raw end ${name}`);
    end.dc = dc;
    dc.binaryType = 'arraybuffer';
    if (dc.readyState === 'open') opened();
    else dc.addEventListener('open', () => opened(), { once: true });
    dc.addEventListener('message', (e: MessageEvent<ArrayBuffer | string>) => {
      const data = e.data;
      if (typeof data === 'string') {
        if (data === 'done') end.onDone?.();
        else if (data.startsWith('emulate:')) end.emulate = data === 'emulate:1';
        else if (data.startsWith('via-pool:'))
          end.viaPool = JSON.parse(data.slice(9) || 'null') ?? undefined;
        else if (data.startsWith('sink:')) {
          end.sinkExpect = Number(data.slice(5));
          end.sinkGot = 0;
        }
        return;
      }
      if (end.onReply) {
        end.lastReply = data;
        return end.onReply();
      }
      if (end.sinkExpect > 0) {
        end.sinkGot += data.byteLength;
        if (end.sinkGot >= end.sinkExpect) {
          end.sinkExpect = 0;
          dc.send('done');
        }
        return;
      }
      const pool = end.viaPool;
      if (pool) {
        void window.__wosApp.started
          .then((rt) => rt.executors.pool.run(pool, 0, { timeoutMs: 10_000 }))
          .then(() => dc.send(data));
        return;
      }
      if (!end.emulate) return dc.send(data);
      const req = end.decode(data) as { id: string; f: string; to: string };
      dc.send(
        end.encode({ id: `${req.to}/r`, t: 'ping', f: req.to, to: req.f, ttl: 4, re: req.id }),
      );
    });
  };
}

/**
 * Connects `a` (offerer) and `b` with a plain data channel, the pair named `pair` (default
 * `main`); resolves once both ends are open.
 */
export async function connectRawPair(a: Page, b: Page, pair = 'main'): Promise<void> {
  for (const p of [a, b]) await p.evaluate(installRawEnd, pair);
  const offer = await a.evaluate(async (pair) => {
    const end = window.__rawEnds[pair]!;
    window.__rawAttach(end.pc.createDataChannel('wos-bench-raw', { ordered: true }), pair);
    await end.pc.setLocalDescription(await end.pc.createOffer());
    return end.described();
  }, pair);
  const answer = await b.evaluate(
    async ({ o, pair }) => {
      const end = window.__rawEnds[pair]!;
      end.pc.addEventListener('datachannel', (e) => window.__rawAttach(e.channel, pair));
      await end.pc.setRemoteDescription(o);
      await end.pc.setLocalDescription(await end.pc.createAnswer());
      return end.described();
    },
    { o: offer, pair },
  );
  await a.evaluate(({ ans, pair }) => window.__rawEnds[pair]!.pc.setRemoteDescription(ans), {
    ans: answer,
    pair,
  });
  const opened = (p: Page): Promise<void> =>
    p.evaluate(
      (pair) =>
        Promise.race([
          window.__rawEnds[pair]!.open,
          new Promise<never>((_, rej) =>
            setTimeout(() => rej(new Error('raw data channel did not open in 10 s')), 10_000),
          ),
        ]),
      pair,
    );
  await Promise.all([opened(a), opened(b)]);
}

/**
 * `n` sequential pings of `size` bytes from `a` over the raw channel; RTTs in ms. With
 * `emulate`, both ends do the bus's wire work instead (envelopes instead of `size` bytes). With
 * `viaPool`, the far end echoes only after running that kernel in its own sandbox pool.
 */
export function rawPings(
  a: Page,
  n: number,
  size: number,
  emulate = false,
  viaPool?: { id: string; spec: unknown },
): Promise<number[]> {
  return a.evaluate(
    async ({ n, size, emulate, viaPool }) => {
      const end = window.__raw;
      const dc = end.dc;
      if (!dc) throw new Error('raw channel not connected');
      dc.send(`emulate:${emulate ? 1 : 0}`);
      dc.send(`via-pool:${viaPool ? JSON.stringify(viaPool) : ''}`);
      const buf = new Uint8Array(size);
      const self = 'abcdefghijklmnop-abcdefgh';
      const peer = 'qrstuvwxyzabcdef-ijklmnop';
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const got = new Promise<void>((r) => (end.onReply = r));
        if (emulate) {
          const timer = setTimeout(() => {}, 2000);
          dc.send(
            end.encode({ id: `${self}/${i}`, t: 'ping', f: self, to: peer, ttl: 4, q: 1, b: {} }),
          );
          await got;
          clearTimeout(timer);
          if (end.lastReply) end.decode(end.lastReply);
        } else {
          dc.send(buf);
          await got;
        }
        out.push(performance.now() - t);
      }
      end.onReply = undefined;
      return out;
    },
    { n, size, emulate, viaPool },
  );
}

/**
 * Streams `bytes` from `a` to its peer in `size`-byte messages with bufferedAmount backpressure;
 * `copies` fresh allocations and copies of each message before it is sent (A/B diagnostics).
 */
export function rawStream(
  a: Page,
  bytes: number,
  size: number,
  copies = 0,
  pair = 'main',
): Promise<Transfer> {
  return a.evaluate(
    async ({ bytes, size, high, low, copies, pair }) => {
      const end = window.__rawEnds[pair]!;
      const dc = end.dc;
      if (!dc) throw new Error('raw channel not connected');
      dc.bufferedAmountLowThreshold = low;
      const chunk = new Uint8Array(size);
      const done = new Promise<void>((r) => (end.onDone = r));
      dc.send(`sink:${bytes}`);
      const t0 = performance.now();
      let sent = 0;
      while (sent < bytes) {
        if (dc.bufferedAmount > high) {
          await new Promise((r) => dc.addEventListener('bufferedamountlow', r, { once: true }));
        }
        const n = Math.min(size, bytes - sent);
        let msg: Uint8Array<ArrayBuffer> = n === size ? chunk : chunk.subarray(0, n);
        for (let c = 0; c < copies; c++) {
          const next = new Uint8Array(msg.length + 1);
          next.set(msg, 1);
          msg = next;
        }
        dc.send(msg);
        sent += n;
      }
      await done;
      end.onDone = undefined;
      return { bytes: sent, ms: performance.now() - t0 };
    },
    { bytes, size, high: HIGH_WATER, low: LOW_WATER, copies, pair },
  );
}

export async function closeRawPair(pages: Page[], pair = 'main'): Promise<void> {
  for (const p of pages) {
    await p.evaluate((pair) => window.__rawEnds[pair]?.pc.close(), pair).catch(() => {});
  }
}
