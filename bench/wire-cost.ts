import * as v from 'valibot';
import { decodePacket, encodePacket, EnvelopeSchema, type Packet } from '../src/core/wire.ts';

/**
 * Diagnostic (not in the default set): CPU cost of each step a bus message takes through the
 * wire format, in Node (same V8 as Chromium), per call. Explains what `bus-rtt` and
 * `bus-throughput` pay on top of the raw channel.
 */
export interface WireCostResult {
  name: 'wire-cost';
  pingPacketBytes: number;
  /** µs per call. */
  steps: Record<string, number>;
}

const ID = 'abcdefghijklmnop-abcdefgh';
const PEER = 'qrstuvwxyzabcdef-ijklmnop';

export function runWireCost(log: (line: string) => void): WireCostResult {
  const env = { id: `${ID}/12345`, t: 'ping', f: ID, to: PEER, ttl: 4, q: 1 as const, b: {} };
  const ping: Packet = { env };
  const bulk: Packet = { env: { ...env, t: 'probe.bulk' }, bin: new Uint8Array(192 * 1024) };
  const pingBytes = encodePacket(ping);
  const bulkBytes = encodePacket(bulk);
  const header = JSON.stringify(env);
  const headerBytes = new TextEncoder().encode(header);
  const parsed: unknown = JSON.parse(header);
  const te = new TextEncoder();
  const td = new TextDecoder('utf-8', { fatal: true });
  const steps: Record<string, number> = {};
  const time = (name: string, n: number, f: () => unknown): void => {
    for (let i = 0; i < n / 10; i++) f();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) f();
    steps[name] = Number((((performance.now() - t0) * 1000) / n).toFixed(3));
    log(`${name.padEnd(44)} ${steps[name]?.toFixed(2).padStart(8)} µs`);
  };
  const N = 200_000;
  time('encodePacket(ping)', N, () => encodePacket(ping));
  time('  JSON.stringify(envelope)', N, () => JSON.stringify(env));
  time('  TextEncoder.encode(header)', N, () => te.encode(header));
  time('decodePacket(ping)', N, () => decodePacket(pingBytes));
  time('  TextDecoder.decode(header)', N, () => td.decode(headerBytes));
  time('  JSON.parse(header)', N, () => JSON.parse(header));
  time('  valibot safeParse(EnvelopeSchema)', N, () => v.safeParse(EnvelopeSchema, parsed));
  time('setTimeout + clearTimeout (per request)', N, () =>
    clearTimeout(setTimeout(() => {}, 5000)),
  );
  const M = 5000;
  time('encodePacket(192 KiB attachment)', M, () => encodePacket(bulk));
  time('framing copy of 192 KiB (new + set)', M, () => {
    const f = new Uint8Array(bulkBytes.length + 1);
    f.set(bulkBytes, 1);
    return f;
  });
  time('decodePacket(192 KiB attachment)', M, () => decodePacket(bulkBytes));
  return { name: 'wire-cost', pingPacketBytes: pingBytes.length, steps };
}
