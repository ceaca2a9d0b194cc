import type { Harness } from './lib/harness.ts';
import { installBundle, reexport } from './lib/page-bundle.ts';
import { stat, type Stat } from './lib/stats.ts';
import type { StripedFile } from './lib/striped-file.ts';
import type { StripeCoder } from '../src/core/storage/storage-context.ts';
import type { deriveFileKeys, importStorageRootKey, newFileId } from '../src/core/storage/keys.ts';

/**
 * The storage write path's CPU stages in a real tab, where WOS runs them: one WOS tab (no
 * peers), a 32 MiB file in 4 MiB stripes, for the (4,6) and (2,4) codes.
 *
 * - AES-256-GCM alone: `sealPieces` (WebCrypto) on the page's main thread, one stripe at a
 *   time, its k pieces views into the file (no copy). Chromium runs WebCrypto on the calling
 *   thread (a 2 MiB seal holds the page ~3 ms), so this stage takes one core.
 * - The coder alone: the tab's own coder (`BrowserRuntime.coder`: our SIMD Reed-Solomon in
 *   `WorkerStripeCoder`'s Web Workers), every sealed stripe handed over with `encodeOwned`
 *   (buffers transferred), at most 2 stripes at the coder, as the uploader feeds it; the
 *   stripes' copies are made before the clock starts.
 * - The pipeline: the uploader's route, `handStripeToCoder` (bench/lib/striped-file.ts), on
 *   stripes as the uploader's source yields them (a fresh buffer per stripe, as a Blob's
 *   `arrayBuffer()` gives; made before the clock, like the coder stage's copies): each goes to
 *   the coder, whose workers cut, seal and code it (`sealEncode`), at most 2 stripes at the
 *   coder. Then the same with every shard hashed too (SHA-256 of all n shards, in the workers),
 *   as a put has it done: more work than the goal's two stages, reported beside it. And the
 *   route of a coder without `sealEncode` (the page seals, the workers code), for comparison.
 *
 * Per run every stage runs `SAMPLES` times in turn (after one warm-up pass), each stage's
 * median; a run's ratio compares stages measured moments apart. Goal (issue #4): pipeline ≥
 * 0.8 × min(cipher, coder). The pipeline may use every core, as the stages alone do not (AES
 * alone runs on one thread): so the result also gives `twoCoreBound`, the rate if both cores
 * did nothing but seal and code (2 / (1/AES + 1/coder per worker)), which no layout can pass.
 * MB/s = 10^6 bytes of file plaintext per second.
 */
export interface StoragePipelineTabRun {
  aesGcm: number;
  coderEncode: number;
  pipeline: number;
  /** The pipeline as a put runs it: every shard hashed (SHA-256) too. */
  hashed: number;
  /** The pipeline with the page sealing and the workers only coding. */
  pageSeals: number;
}

export interface StoragePipelineTabResult {
  name: 'storage-pipeline-tab';
  fileBytes: number;
  stripeBytes: number;
  /** Web Workers the tab's coder may start (`WorkerStripeCoder`'s pool size). */
  coderWorkers: number;
  codes: Record<
    string,
    {
      aesGcm: Stat;
      coderEncode: Stat;
      pipeline: Stat;
      /** The pipeline with every shard hashed too, as a put runs it. */
      hashed: Stat;
      /** The pipeline with the page sealing, the workers only coding. */
      pageSeals: Stat;
      /** pipeline / min(aesGcm, coderEncode), per run. */
      ratio: Stat & { goal: string };
      /** 2 / (1 / aesGcm + workers / coderEncode): both cores sealing and coding, per run. */
      twoCoreBound: Stat;
      /** pipeline / twoCoreBound, per run. */
      ofTwoCoreBound: Stat;
      details: StoragePipelineTabRun[];
    }
  >;
}

interface PipeGlobals {
  StripedFile: typeof StripedFile;
  importStorageRootKey: typeof importStorageRootKey;
  deriveFileKeys: typeof deriveFileKeys;
  newFileId: typeof newFileId;
}

declare global {
  interface Window {
    __wosPipe: PipeGlobals;
  }
}

const EXPORTS = [
  reexport('bench/lib/striped-file.ts', 'StripedFile'),
  reexport('src/core/storage/keys.ts', 'importStorageRootKey', 'deriveFileKeys', 'newFileId'),
];

const MiB = 1 << 20;
const CODES: [number, number][] = [
  [4, 6],
  [2, 4],
];
const SAMPLES = 6;

export async function runStoragePipelineTabBench(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<StoragePipelineTabResult> {
  const tab = await h.openTab(h.url);
  await installBundle(tab.page, '__wosPipe', EXPORTS);
  const fileBytes = 32 * MiB;
  const stripeBytes = 4 * MiB;
  const perCode = new Map<string, StoragePipelineTabRun[]>();
  let coderWorkers = 0;
  for (let r = 0; r < runs; r++) {
    const out = await tab.page.evaluate(inPage, {
      fileBytes,
      stripeBytes,
      codes: CODES,
      samples: SAMPLES,
    });
    coderWorkers = out.workers;
    for (const [code, run] of Object.entries(out.codes)) {
      perCode.set(code, [...(perCode.get(code) ?? []), run]);
    }
    log(
      `storage-pipeline-tab ${r + 1}/${runs}: ` +
        Object.entries(out.codes)
          .map(
            ([code, c]) =>
              `${code} AES-GCM ${c.aesGcm}, coder ${c.coderEncode}, pipeline ${c.pipeline} MB/s ` +
              `(${(c.pipeline / Math.min(c.aesGcm, c.coderEncode)).toFixed(2)}×), ` +
              `with hashing ${c.hashed}, page sealing ${c.pageSeals} MB/s`,
          )
          .join('; '),
    );
  }
  const codes: StoragePipelineTabResult['codes'] = {};
  for (const [code, details] of perCode) {
    const pick = (f: (d: StoragePipelineTabRun) => number): number[] => details.map(f);
    codes[code] = {
      aesGcm: stat(
        'MB/s',
        pick((d) => d.aesGcm),
        0,
      ),
      coderEncode: stat(
        'MB/s',
        pick((d) => d.coderEncode),
        0,
      ),
      pipeline: stat(
        'MB/s',
        pick((d) => d.pipeline),
        0,
      ),
      hashed: stat(
        'MB/s',
        pick((d) => d.hashed),
        0,
      ),
      pageSeals: stat(
        'MB/s',
        pick((d) => d.pageSeals),
        0,
      ),
      ratio: {
        ...stat(
          '×',
          pick((d) => d.pipeline / Math.min(d.aesGcm, d.coderEncode)),
          2,
        ),
        goal: '≥ 0.8',
      },
      twoCoreBound: stat(
        'MB/s',
        pick((d) => bound(d, coderWorkers)),
        0,
      ),
      ofTwoCoreBound: stat(
        '×',
        pick((d) => d.pipeline / bound(d, coderWorkers)),
        2,
      ),
      details,
    };
  }
  return { name: 'storage-pipeline-tab', fileBytes, stripeBytes, coderWorkers, codes };
}

/** Both cores sealing (at the page's AES rate) and coding (at one worker's rate), nothing else. */
function bound(d: StoragePipelineTabRun, workers: number): number {
  return 2 / (1 / d.aesGcm + Math.max(1, workers) / d.coderEncode);
}

async function inPage(o: {
  fileBytes: number;
  stripeBytes: number;
  codes: [number, number][];
  samples: number;
}): Promise<{ workers: number; codes: Record<string, StoragePipelineTabRun> }> {
  const { StripedFile, importStorageRootKey, deriveFileKeys, newFileId } = window.__wosPipe;
  const rt = await window.__wosApp.started;
  const coder = rt.coder;
  if (!coder.encodeOwned)
    throw new Error('the tab runs its coder on the main thread, not in workers');
  const encodeOwned = coder.encodeOwned.bind(coder);
  // The same coder without `sealEncode`: the page seals, the workers code (the route before
  // stop 13, and still that of a coder without workers).
  const pageSealing = {
    encode: coder.encode.bind(coder),
    encodeOwned,
    reconstruct: coder.reconstruct.bind(coder),
  };
  const subtle = crypto.subtle;
  const random = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(b.subarray(i, i + 65_536));
    return b;
  };
  const root = await importStorageRootKey(subtle, random(32));
  const keys = await deriveFileKeys(subtle, root, newFileId(random));
  const file = random(o.fileBytes);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const mbps = (ms: number): number => Math.round(o.fileBytes / 1e6 / (ms / 1000));
  const out: Record<string, StoragePipelineTabRun> = {};
  for (const [k, n] of o.codes) {
    const striped = new StripedFile(subtle, keys, file, k, o.stripeBytes / k);
    const sealed = await striped.sealAll();
    /** Every stripe to the coder, at most 2 there at once (copies made before the clock). */
    const coderAlone = async (): Promise<number> => {
      const copies = sealed.map((d) => d.map((c) => c.slice()));
      const t0 = performance.now();
      const at: Promise<Uint8Array[]>[] = [];
      for (const d of copies) {
        at.push(encodeOwned(d, n - k));
        if (at.length >= 2) await at.shift();
      }
      await Promise.all(at);
      return performance.now() - t0;
    };
    const timed = async (fn: () => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    /** The pipeline on stripes as a Blob read yields them (fresh buffers, made before the clock). */
    const piped = (c: StripeCoder, digests: boolean): Promise<number> => {
      const stripes = striped.stripes();
      return timed(() => striped.pipeline(c, n, { digests, stripes }));
    };
    const t = {
      aes: [] as number[],
      coder: [] as number[],
      pipe: [] as number[],
      pageSeals: [] as number[],
      write: [] as number[],
    };
    const stages: [keyof typeof t, () => Promise<number>][] = [
      ['aes', () => timed(() => striped.sealAll())],
      ['coder', coderAlone],
      ['pipe', () => piped(coder, false)],
      ['pageSeals', () => piped(pageSealing, false)],
      ['write', () => piped(coder, true)],
    ];
    for (let s = -1; s < o.samples; s++) {
      // Each sample starts at another stage, so the garbage one stage leaves (the coder's copies,
      // the sealed stripes) is collected during each of the others alike.
      for (let i = 0; i < stages.length; i++) {
        const [name, run] = stages[(i + Math.max(s, 0)) % stages.length]!;
        const ms = await run();
        if (s >= 0) t[name].push(ms);
      }
    }
    out[`(${k},${n})`] = {
      aesGcm: mbps(median(t.aes)),
      coderEncode: mbps(median(t.coder)),
      pipeline: mbps(median(t.pipe)),
      hashed: mbps(median(t.write)),
      pageSeals: mbps(median(t.pageSeals)),
    };
  }
  const workers = (coder as unknown as { workers?: number }).workers ?? 0;
  return { workers, codes: out };
}
