import type { Harness } from './lib/harness.ts';
import { busPings } from './lib/bus-page.ts';
import { openPair } from './lib/pair.ts';
import { rawPings } from './lib/raw-channel.ts';
import { median, percentile, stat, type Stat } from './lib/stats.ts';

/**
 * Bus request RTT between two tabs (`ping` request/response through framing, wire format,
 * validation, dedup and the pending-request table) against a raw data-channel echo of a
 * 128-byte message between the same pages, measured interleaved in blocks of 50 so both see
 * the same background (gossip every 500 ms, RTT probes every 2 s).
 */
export interface RttRun {
  busP50Ms: number;
  busP99Ms: number;
  rawP50Ms: number;
  rawP99Ms: number;
  /** Bus median / raw median (goal ≤ 1.5). */
  ratio: number;
}

export interface RttResult {
  name: 'bus-rtt';
  pingsPerRun: number;
  ratio: Stat & { goal: string };
  busP50: Stat;
  busP99: Stat;
  rawP50: Stat;
  rawP99: Stat;
  details: RttRun[];
}

const BLOCK = 50;
const RAW_BYTES = 128;

export async function runBusRttBench(
  h: Harness,
  runs: number,
  pings: number,
  log: (line: string) => void,
): Promise<RttResult> {
  const { a, b } = await openPair(h);
  await busPings(a.page, b.id, BLOCK);
  await rawPings(a.page, BLOCK, RAW_BYTES);
  const details: RttRun[] = [];
  for (let r = 0; r < runs; r++) {
    const bus: number[] = [];
    const raw: number[] = [];
    for (let done = 0; done < pings; done += BLOCK) {
      const n = Math.min(BLOCK, pings - done);
      bus.push(...(await busPings(a.page, b.id, n)));
      raw.push(...(await rawPings(a.page, n, RAW_BYTES)));
    }
    const run: RttRun = {
      busP50Ms: median(bus),
      busP99Ms: percentile(bus, 0.99),
      rawP50Ms: median(raw),
      rawP99Ms: percentile(raw, 0.99),
      ratio: median(bus) / median(raw),
    };
    details.push(run);
    log(
      `bus-rtt ${r + 1}/${runs}: bus p50 ${run.busP50Ms.toFixed(3)} p99 ${run.busP99Ms.toFixed(3)} ms; ` +
        `raw p50 ${run.rawP50Ms.toFixed(3)} p99 ${run.rawP99Ms.toFixed(3)} ms; ratio ${run.ratio.toFixed(2)}×`,
    );
  }
  const s = (pick: (r: RttRun) => number): Stat => stat('ms', details.map(pick));
  return {
    name: 'bus-rtt',
    pingsPerRun: pings,
    ratio: {
      ...stat(
        '×',
        details.map((d) => d.ratio),
        2,
      ),
      goal: '≤ 1.5',
    },
    busP50: s((r) => r.busP50Ms),
    busP99: s((r) => r.busP99Ms),
    rawP50: s((r) => r.rawP50Ms),
    rawP99: s((r) => r.rawP99Ms),
    details,
  };
}
