import { busPings, busStream } from './lib/bus-page.ts';
import type { Harness } from './lib/harness.ts';
import { openPair } from './lib/pair.ts';
import { rawPings, rawStream, type Transfer } from './lib/raw-channel.ts';
import { median, percentile } from './lib/stats.ts';

/**
 * Diagnostic (not in the default set): A/B on the raw channel between the same two tabs, to
 * split the bus's cost from the channel's. Interleaved in rounds:
 * - RTT: bus ping | raw 128-byte echo | raw echo doing the bus's wire work (JSON envelope,
 *   TextEncoder/Decoder, prefix concat, frame copy, a timer per request) but no validation,
 *   no bus bookkeeping, no PeerJS event layer;
 * - throughput (192 KiB messages): bus | raw | raw with 2 fresh copies of every message (what
 *   `encodePacket`'s concat and the framing's copy allocate).
 */
export interface AbResult {
  name: 'bus-ab';
  rtt: Record<'bus' | 'raw' | 'rawWire', { p50Ms: number; p99Ms: number }>;
  throughputMBps: Record<'bus' | 'raw' | 'rawCopies', number>;
}

const KiB = 1024;

export async function runBusAb(
  h: Harness,
  rounds: number,
  log: (line: string) => void,
): Promise<AbResult> {
  const { a, b } = await openPair(h);
  const pings = { bus: [] as number[], raw: [] as number[], rawWire: [] as number[] };
  await busPings(a.page, b.id, 100);
  await rawPings(a.page, 100, 128, true);
  for (let r = 0; r < rounds * 5; r++) {
    pings.bus.push(...(await busPings(a.page, b.id, 100)));
    pings.raw.push(...(await rawPings(a.page, 100, 128)));
    pings.rawWire.push(...(await rawPings(a.page, 100, 128, true)));
  }
  const rtt = {
    bus: summary(pings.bus),
    raw: summary(pings.raw),
    rawWire: summary(pings.rawWire),
  };
  const seg = 16 * 1024 * KiB;
  const acc = { bus: [] as Transfer[], raw: [] as Transfer[], rawCopies: [] as Transfer[] };
  await busStream(a.page, b.id, seg / 2, 192 * KiB, 8);
  await rawStream(a.page, seg / 2, 192 * KiB);
  for (let r = 0; r < rounds; r++) {
    acc.bus.push(await busStream(a.page, b.id, seg, 192 * KiB, 8));
    acc.raw.push(await rawStream(a.page, seg, 192 * KiB));
    acc.rawCopies.push(await rawStream(a.page, seg, 192 * KiB, 2));
  }
  const mbps = (ts: Transfer[]): number => {
    const bytes = ts.reduce((s, t) => s + t.bytes, 0);
    const ms = ts.reduce((s, t) => s + t.ms, 0);
    return Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
  };
  const throughputMBps = { bus: mbps(acc.bus), raw: mbps(acc.raw), rawCopies: mbps(acc.rawCopies) };
  for (const [k, v] of Object.entries(rtt)) {
    log(`rtt ${k.padEnd(8)} p50 ${v.p50Ms.toFixed(3)} ms  p99 ${v.p99Ms.toFixed(3)} ms`);
  }
  for (const [k, v] of Object.entries(throughputMBps)) log(`throughput ${k.padEnd(10)} ${v} MB/s`);
  return { name: 'bus-ab', rtt, throughputMBps };
}

function summary(xs: number[]): { p50Ms: number; p99Ms: number } {
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { p50Ms: r(median(xs)), p99Ms: r(percentile(xs, 0.99)) };
}
