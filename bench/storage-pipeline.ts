import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveFileKeys, importStorageRootKey, newFileId } from '../src/core/storage/keys.ts';
import { StripedFile } from './lib/striped-file.ts';
import { createNodeErasureCoder } from '../src/platform/storage/rs-wasm-node.ts';
import { createNodeWorkerCoder } from '../src/platform/storage/worker-coder-node.ts';

/**
 * The storage write path's CPU stages in Node, alone and together, on 4 MiB stripes:
 * AES-256-GCM through WebCrypto, the Reed-Solomon wasm, and the pipeline, which runs the
 * uploader's route (`handStripeToCoder`, via bench/lib/striped-file.ts): once with the coder on
 * the main thread (each stripe sealed, then coded, in turn), once with the worker coder
 * (`WorkerStripeCoder`, as tabs run it), which cuts, seals and codes each stripe in a worker
 * thread, the plaintext transferred to it and the shards back (no hashing, as in the goal).
 * The stripes are made before the clock (a fresh buffer each, as a Blob read yields them).
 *
 * Rates are MB/s = 10^6 bytes of file plaintext per second, the median of `runs` runs; in each
 * run every stage runs once, in turn, so a busy machine slows them alike. memcpy is the ceiling.
 * The goal (pipeline ≥ 0.8 × min(cipher alone, coder alone)) is judged in a tab
 * (bench/storage-pipeline-tab.ts); these Node figures are the reference.
 */
export interface StoragePipelineResult {
  name: 'storage-pipeline';
  unit: string;
  runs: number;
  fileBytes: number;
  stripeBytes: number;
  memcpy: number;
  codes: Record<
    string,
    {
      chunkBytes: number;
      aesGcm: number;
      coderEncode: number;
      coderReconstructTwoData: number;
      /** Coder on the main thread. */
      pipeline: number;
      /** pipeline / min(aesGcm, coderEncode). */
      ratio: number;
      /** The worker coder (sealing, coding and hashing in its worker threads). */
      pipelineWorker: number;
      /** pipelineWorker / min(aesGcm, coderEncode). */
      workerRatio: number;
    }
  >;
}

const MiB = 1 << 20;

export interface StoragePipelineOptions {
  runs?: number;
  fileBytes?: number;
  stripeBytes?: number;
  codes?: readonly (readonly [number, number])[];
  /** Stripes at the coder at once (2, as the uploader's `inflightStripes`). */
  atCoder?: number;
  /** Worker threads of the worker coder (2). */
  workers?: number;
}

interface Stage {
  label: string;
  bytes: number;
  /** Work done before the clock starts (the input a source would have read). */
  setup?: () => void;
  run: () => unknown;
}

export async function runStoragePipelineBench(
  opts: StoragePipelineOptions = {},
): Promise<StoragePipelineResult> {
  const runs = opts.runs ?? 5;
  const fileBytes = opts.fileBytes ?? 32 * MiB;
  const stripeBytes = opts.stripeBytes ?? 4 * MiB;
  const codes = opts.codes ?? [
    [4, 6],
    [2, 4],
  ];
  const atCoder = opts.atCoder ?? 2;
  const subtle = globalThis.crypto.subtle;
  const coder = await createNodeErasureCoder();
  const worker = await createNodeWorkerCoder({ workers: opts.workers ?? 2 });
  const root = await importStorageRootKey(subtle, randomBytes(32));
  const keys = await deriveFileKeys(subtle, root, newFileId(randomBytes));
  const file = randomBytes(fileBytes);

  const dst = new Uint8Array(fileBytes);
  /** The pipeline stages' input: every stripe a fresh buffer, as a Blob read yields them. */
  let stripes: Uint8Array[] = [];
  const stages: Stage[] = [
    {
      label: 'memcpy',
      bytes: 8 * fileBytes,
      run: () => [...Array(8)].forEach(() => dst.set(file)),
    },
  ];
  for (const [k, n] of codes) {
    const code = new StripedFile(subtle, keys, file, k, stripeBytes / k);
    const sealed = await code.sealAll();
    const lossy = sealed.map((d) => [
      undefined,
      undefined,
      ...d.slice(2),
      ...coder.encode(d, n - k),
    ]);
    const label = `(${k},${n})`;
    stages.push(
      { label: `${label} aesGcm`, bytes: fileBytes, run: () => code.sealAll() },
      {
        label: `${label} coderEncode`,
        bytes: fileBytes,
        run: () => sealed.forEach((d) => coder.encode(d, n - k)),
      },
      {
        label: `${label} coderReconstructTwoData`,
        bytes: fileBytes,
        run: () => lossy.forEach((s) => coder.reconstruct(s, k, n - k)),
      },
      {
        label: `${label} pipeline`,
        bytes: fileBytes,
        setup: () => (stripes = code.stripes()),
        run: () => code.pipeline(coder, n, { atCoder, stripes }),
      },
      {
        label: `${label} pipelineWorker`,
        bytes: fileBytes,
        setup: () => (stripes = code.stripes()),
        run: () => code.pipeline(worker, n, { atCoder, stripes }),
      },
    );
  }

  const times = new Map<string, number[]>(stages.map((s) => [s.label, []]));
  try {
    for (let r = -1; r < runs; r++) {
      for (const s of stages) {
        s.setup?.();
        const t0 = performance.now();
        await s.run();
        if (r >= 0) times.get(s.label)!.push(performance.now() - t0);
      }
    }
  } finally {
    worker.close();
  }
  const rate = (label: string): number => {
    const st = stages.find((s) => s.label === label)!;
    const t = times.get(label)!.sort((a, b) => a - b);
    return Math.round(st.bytes / 1e6 / (t[Math.floor(t.length / 2)]! / 1000));
  };

  const result: StoragePipelineResult['codes'] = {};
  for (const [k, n] of codes) {
    const l = `(${k},${n})`;
    const aesGcm = rate(`${l} aesGcm`);
    const coderEncode = rate(`${l} coderEncode`);
    const pipeline = rate(`${l} pipeline`);
    const pipelineWorker = rate(`${l} pipelineWorker`);
    const slower = Math.min(aesGcm, coderEncode);
    result[l] = {
      chunkBytes: stripeBytes / k,
      aesGcm,
      coderEncode,
      coderReconstructTwoData: rate(`${l} coderReconstructTwoData`),
      pipeline,
      ratio: Math.round((pipeline / slower) * 100) / 100,
      pipelineWorker,
      workerRatio: Math.round((pipelineWorker / slower) * 100) / 100,
    };
  }
  return {
    name: 'storage-pipeline',
    unit: 'MB/s of file plaintext (10^6 bytes/s), median of runs',
    runs,
    fileBytes,
    stripeBytes,
    memcpy: rate('memcpy'),
    codes: result,
  };
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) globalThis.crypto.getRandomValues(out.subarray(o, o + 65536));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await runStoragePipelineBench(), null, 2));
}
