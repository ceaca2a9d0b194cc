import type { Harness } from './lib/harness.ts';
import { busStream } from './lib/bus-page.ts';
import { openPair } from './lib/pair.ts';
import { rawStream, type Transfer } from './lib/raw-channel.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Bus throughput between two tabs: `bytes` of 192 KiB attachments as `measureThroughput`
 * sends them (`probe.bulk` requests, 8 in flight), timed until the last acknowledgement,
 * against the raw data channel between the same pages streaming the same bytes in 64, 192 and
 * 256 KiB messages with bufferedAmount backpressure (4 MiB high, 1 MiB low: the product's
 * marks), timed until the receiver confirms the last byte. Payload bytes only; MB = 10^6 B.
 * The limit is the best raw size of the same run.
 */
export interface ThroughputRun {
  busMBps: number;
  rawMBps: Record<string, number>;
  rawBestMBps: number;
  /** Bus / best raw (goal ≥ 0.9). */
  ratio: number;
}

export interface ThroughputResult {
  name: 'bus-throughput';
  bytesPerTransfer: number;
  busChunkBytes: number;
  busWindow: number;
  ratio: Stat & { goal: string };
  bus: Stat;
  rawBest: Stat;
  raw: Record<string, Stat>;
  details: ThroughputRun[];
}

const KiB = 1024;
const CHUNK = 192 * KiB;
const WINDOW = 8;
const RAW_SIZES = [64 * KiB, 192 * KiB, 256 * KiB];

const mbps = (t: Transfer): number => t.bytes / 1e6 / (t.ms / 1000);

export async function runBusThroughputBench(
  h: Harness,
  runs: number,
  bytes: number,
  log: (line: string) => void,
): Promise<ThroughputResult> {
  const { a, b } = await openPair(h);
  // Warm-up: JIT, SCTP congestion window.
  await busStream(a.page, b.id, 8 * 1024 * KiB, CHUNK, WINDOW);
  await rawStream(a.page, 8 * 1024 * KiB, 256 * KiB);
  const details: ThroughputRun[] = [];
  for (let r = 0; r < runs; r++) {
    const busMBps = mbps(await busStream(a.page, b.id, bytes, CHUNK, WINDOW));
    const rawMBps: Record<string, number> = {};
    for (const size of RAW_SIZES) {
      rawMBps[`${size / KiB}KiB`] = mbps(await rawStream(a.page, bytes, size));
    }
    const rawBestMBps = Math.max(...Object.values(rawMBps));
    const run = { busMBps, rawMBps, rawBestMBps, ratio: busMBps / rawBestMBps };
    details.push(run);
    const raws = Object.entries(rawMBps)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ');
    log(
      `bus-throughput ${r + 1}/${runs}: bus ${busMBps.toFixed(1)} MB/s; raw ${raws} MB/s; ` +
        `ratio ${run.ratio.toFixed(2)}×`,
    );
  }
  const raw: Record<string, Stat> = {};
  for (const size of RAW_SIZES) {
    const k = `${size / KiB}KiB`;
    raw[k] = stat(
      'MB/s',
      details.map((d) => d.rawMBps[k] ?? 0),
      1,
    );
  }
  return {
    name: 'bus-throughput',
    bytesPerTransfer: bytes,
    busChunkBytes: CHUNK,
    busWindow: WINDOW,
    ratio: {
      ...stat(
        '×',
        details.map((d) => d.ratio),
        2,
      ),
      goal: '≥ 0.9',
    },
    bus: stat(
      'MB/s',
      details.map((d) => d.busMBps),
      1,
    ),
    rawBest: stat(
      'MB/s',
      details.map((d) => d.rawBestMBps),
      1,
    ),
    raw,
    details,
  };
}
