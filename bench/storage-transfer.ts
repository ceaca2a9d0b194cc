import os from 'node:os';
import type { Harness } from './lib/harness.ts';
import { cpuSnapshot, cpuUse } from './lib/proc-cpu.ts';
import { connectRawPair, rawStream, type Transfer } from './lib/raw-channel.ts';
import { stat, type Stat } from './lib/stats.ts';
import {
  deleteFile,
  getTimed,
  putTimed,
  setCacheBytes,
  type PutTimed,
} from './lib/storage-page.ts';

/**
 * Files across the mesh against the data channel: a mesh of 5 tabs (separate contexts: A, the
 * user, and 4 holders B–E; the default code for 4 holders is (2,4), one shard per holder). Per
 * run, A puts a fresh file of random bytes with `wos.files.put` and reads it back with
 * `wos.files.stream` (its local file cache set to 0, so every byte comes from holders), and the
 * bench's own plain data channel between A and B streams the same number of bytes each way
 * (64 and 256 KiB messages, bufferedAmount backpressure at the product's marks).
 *
 * - put: shard bytes placed on other nodes per second (n/k × the file, what crossed the
 *   channels, to 4 holders at once) over the raw A → B rate. Goal ≥ 0.7.
 * - get: file bytes per second (k shards of each stripe fetched from k holders in parallel)
 *   over the raw B → A rate. Goal ≥ 1.
 *
 * - raw fan-in: B → A and C → A at once, each half the file's bytes in 256 KiB messages, over
 *   their own plain channels: the get's pattern (k = 2 senders, one receiver) with nothing but
 *   the channels, so get / fan-in says what the get costs beyond moving its bytes, and fan-in /
 *   raw B → A whether parallel channels beat one here (on 2 cores they cannot, being CPU-bound).
 *
 * The raw rate is the message size that was fastest over all runs together, per direction.
 * Within a run the four transfers rotate order, so load from other processes falls on all of
 * them alike. MB = 10^6 bytes; times in the page (`performance.now()`).
 */
export interface StorageTransferRun {
  put: Omit<PutTimed, 'sha256' | 'id'>;
  getMs: number;
  putShardMBps: number;
  putFileMBps: number;
  getMBps: number;
  rawUpMBps: Record<string, number>;
  rawDownMBps: Record<string, number>;
  /** B → A and C → A at once, half the bytes each (256 KiB messages). */
  rawFanInMBps: number;
  /**
   * Cores' worth of CPU during each transfer: the bench's Chromium (all its processes) and the
   * whole machine (/proc). On 2 cores a transfer whose Chromium use nears 2 is CPU-bound.
   */
  cpu: Record<
    'rawUp' | 'put' | 'rawDown' | 'rawFanIn' | 'get',
    { chromium: number; machine: number }
  >;
}

export interface StorageTransferResult {
  name: 'storage-transfer';
  tabs: number;
  fileBytes: number;
  code: string;
  /** Raw message size used as the limit, per direction. */
  limitUp: string;
  limitDown: string;
  putRatio: Stat & { goal: string };
  getRatio: Stat & { goal: string };
  putShardMBps: Stat;
  putFileMBps: Stat;
  getMBps: Stat;
  rawUpMBps: Stat;
  rawDownMBps: Stat;
  rawFanInMBps: Stat;
  /** raw fan-in / raw B → A, per run. */
  fanInRatio: Stat;
  /** get / raw fan-in, per run. */
  getOfFanIn: Stat;
  details: StorageTransferRun[];
}

const KiB = 1024;
const MiB = 1024 * KiB;
const STRIPE = 4 * MiB;
const RAW_SIZES = [64 * KiB, 256 * KiB];
const mbps = (t: Transfer): number => t.bytes / 1e6 / (t.ms / 1000);

export async function runStorageTransferBench(
  h: Harness,
  runs: number,
  fileMiB: number,
  log: (line: string) => void,
): Promise<StorageTransferResult> {
  const a = await h.openTab(h.url);
  const invite = await h.invite();
  const b = await h.openTab(invite);
  const c = await h.openTab(invite);
  for (let i = 0; i < 2; i++) await h.openTab(invite);
  await h.settle(20_000, 3000);
  await setCacheBytes(a.page, 0);
  await connectRawPair(a.page, b.page);
  await connectRawPair(a.page, c.page, 'fan');
  /** B → A and C → A at once over their own channels, half the bytes each. */
  const fanIn = async (bytes: number): Promise<Transfer> => {
    const half = Math.floor(bytes / 2);
    const [tb, tc] = await Promise.all([
      rawStream(b.page, half, 256 * KiB),
      rawStream(c.page, bytes - half, 256 * KiB, 0, 'fan'),
    ]);
    return { bytes: tb.bytes + tc.bytes, ms: Math.max(tb.ms, tc.ms) };
  };
  const fileBytes = fileMiB * MiB;

  // Warm-up: JIT, SCTP windows, IndexedDB on every holder, the coder worker.
  await rawStream(a.page, 8 * MiB, 256 * KiB);
  await rawStream(b.page, 8 * MiB, 256 * KiB);
  await fanIn(8 * MiB);
  const warm = await putTimed(a.page, 8 * MiB, STRIPE, 'warm-up.bin');
  await getTimed(a.page, warm.id);
  await deleteFile(a.page, warm.id);

  const allUp = new Map(RAW_SIZES.map((s) => [s, { bytes: 0, ms: 0 }]));
  const allDown = new Map(RAW_SIZES.map((s) => [s, { bytes: 0, ms: 0 }]));
  const details: StorageTransferRun[] = [];
  let code = '';
  for (let r = 0; r < runs; r++) {
    const rawUp: Record<string, number> = {};
    const rawDown: Record<string, number> = {};
    let rawFanIn = 0;
    let put: PutTimed | undefined;
    let getMs = 0;
    const cpu = {} as StorageTransferRun['cpu'];
    const timed = async (what: keyof typeof cpu, fn: () => Promise<void>): Promise<void> => {
      const c0 = cpuSnapshot();
      await fn();
      const use = cpuUse(c0, cpuSnapshot(), os.cpus().length);
      const cores = (x: number): number => Math.round((x / use.wallS) * 100) / 100;
      cpu[what] = { chromium: cores(use.ownS), machine: use.machineBusyCores };
    };
    const steps: (() => Promise<void>)[] = [
      // Each raw size is timed; the CPU kept is the last one's (256 KiB).
      async () => {
        for (const size of RAW_SIZES) {
          await timed('rawUp', async () => {
            const t = await rawStream(a.page, fileBytes, size);
            rawUp[`${size / KiB}KiB`] = mbps(t);
            add(allUp.get(size)!, t);
          });
        }
      },
      () =>
        timed('put', async () => {
          put = await putTimed(a.page, fileBytes, STRIPE, `bench-${r}.bin`);
        }),
      async () => {
        for (const size of RAW_SIZES) {
          await timed('rawDown', async () => {
            const t = await rawStream(b.page, fileBytes, size);
            rawDown[`${size / KiB}KiB`] = mbps(t);
            add(allDown.get(size)!, t);
          });
        }
        await timed('rawFanIn', async () => {
          rawFanIn = mbps(await fanIn(fileBytes));
        });
      },
      () =>
        timed('get', async () => {
          const got = await getTimed(a.page, put!.id);
          if (got.fileBytes !== fileBytes || got.sha256 !== put!.sha256) {
            throw new Error(`run ${r}: the file read back differs from the one put`);
          }
          getMs = got.ms;
        }),
    ];
    // Raw up before or after the put, raw down before or after the get (the get needs the put).
    const order = r % 2 === 0 ? [0, 1, 2, 3] : [1, 0, 3, 2];
    for (const i of order) await steps[i]!();
    const p = put!;
    await deleteFile(a.page, p.id);
    code = `(${p.k},${p.n})`;
    const putInfo = {
      ms: p.ms,
      fileBytes: p.fileBytes,
      k: p.k,
      n: p.n,
      stripes: p.stripes,
      shardBytesMoved: p.shardBytesMoved,
      localShards: p.localShards,
      stores: p.stores,
    };
    const run: StorageTransferRun = {
      put: putInfo,
      getMs,
      putShardMBps: p.shardBytesMoved / 1e6 / (p.ms / 1000),
      putFileMBps: p.fileBytes / 1e6 / (p.ms / 1000),
      getMBps: fileBytes / 1e6 / (getMs / 1000),
      rawUpMBps: rawUp,
      rawDownMBps: rawDown,
      rawFanInMBps: rawFanIn,
      cpu,
    };
    details.push(run);
    const fmt = (o: Record<string, number>): string =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${v.toFixed(1)}`)
        .join(', ');
    log(
      `storage-transfer ${r + 1}/${runs}: ${code} put ${run.putShardMBps.toFixed(1)} MB/s of shards ` +
        `(${run.putFileMBps.toFixed(1)} of file, ${p.stores} stores, ${p.localShards} local); ` +
        `get ${run.getMBps.toFixed(1)} MB/s; raw A→B ${fmt(rawUp)}; raw B→A ${fmt(rawDown)}; ` +
        `raw B+C→A ${rawFanIn.toFixed(1)} MB/s; ` +
        `cores used by Chromium / machine: ${Object.entries(cpu)
          .map(([k, c]) => `${k} ${c.chromium}/${c.machine}`)
          .join(', ')}`,
    );
  }
  const best = (all: Map<number, Transfer>): string => {
    let top = RAW_SIZES[0]!;
    for (const s of RAW_SIZES) if (mbps(all.get(s)!) > mbps(all.get(top)!)) top = s;
    return `${top / KiB}KiB`;
  };
  const limitUp = best(allUp);
  const limitDown = best(allDown);
  const per = (pick: (d: StorageTransferRun) => number, unit = 'MB/s', digits = 1): Stat =>
    stat(unit, details.map(pick), digits);
  return {
    name: 'storage-transfer',
    tabs: 5,
    fileBytes,
    code,
    limitUp,
    limitDown,
    putRatio: {
      ...per((d) => d.putShardMBps / d.rawUpMBps[limitUp]!, '×', 2),
      goal: '≥ 0.7',
    },
    getRatio: { ...per((d) => d.getMBps / d.rawDownMBps[limitDown]!, '×', 2), goal: '≥ 1' },
    putShardMBps: per((d) => d.putShardMBps),
    putFileMBps: per((d) => d.putFileMBps),
    getMBps: per((d) => d.getMBps),
    rawUpMBps: per((d) => d.rawUpMBps[limitUp]!),
    rawDownMBps: per((d) => d.rawDownMBps[limitDown]!),
    rawFanInMBps: per((d) => d.rawFanInMBps),
    fanInRatio: per((d) => d.rawFanInMBps / d.rawDownMBps[limitDown]!, '×', 2),
    getOfFanIn: per((d) => d.getMBps / d.rawFanInMBps, '×', 2),
    details,
  };
}

function add(acc: Transfer, t: Transfer): void {
  acc.bytes += t.bytes;
  acc.ms += t.ms;
}
