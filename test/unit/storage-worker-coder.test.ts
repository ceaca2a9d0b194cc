import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/core/bytes.ts';
import { WosError } from '../../src/core/errors.ts';
import type { ErasureCoder } from '../../src/core/storage/erasure.ts';
import { compileRsWasm } from '../../src/core/storage/rs-wasm.ts';
import {
  deriveFileKeys,
  importStorageRootKey,
  type FileKeys,
} from '../../src/core/storage/keys.ts';
import { openPieces, sealPieces } from '../../src/core/storage/seal-stripe.ts';
import { splitStripe } from '../../src/core/storage/stripe.ts';
import { CoderParamsError, NotEnoughShardsError } from '../../src/core/storage/storage-errors.ts';
import { seededBytes as bytesFrom, seededRandom } from '../../src/core/testing/seeded-random.ts';
import {
  coderServer,
  type CoderReply,
  type CoderRequest,
} from '../../src/platform/storage/coder-protocol.ts';
import { createNodeErasureCoder, rsWasmPath } from '../../src/platform/storage/rs-wasm-node.ts';
import {
  CoderWorkerError,
  WorkerStripeCoder,
  type CoderPort,
} from '../../src/platform/storage/worker-coder.ts';
import { createNodeWorkerCoder } from '../../src/platform/storage/worker-coder-node.ts';

/**
 * The worker coder: against the in-thread coder in a real worker thread, and its failure
 * handling with scripted workers (ones that die, hang or fail to start).
 */
let local: ErasureCoder;
let module: WebAssembly.Module;
beforeAll(async () => {
  local = await createNodeErasureCoder();
  module = await compileRsWasm(readFile(rsWasmPath()));
});

const seededBytes = (n: number, seed: number): Uint8Array => bytesFrom(seededRandom(seed))(n);

/** A file's keys under a root key made from `seed`. */
const fileKeys = async (seed: number): Promise<FileKeys> =>
  deriveFileKeys(
    crypto.subtle,
    await importStorageRootKey(crypto.subtle, seededBytes(32, seed)),
    seededBytes(16, seed + 1),
  );

const shardsOf = (k: number, size: number, seed: number): Uint8Array[] =>
  Array.from({ length: k }, (_, i) => seededBytes(size, seed * 100 + i));

const same = (a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean =>
  a.length === b.length && a.every((x, i) => bytesEqual(x, b[i]!));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e instanceof WosError ? e.code : String(e);
  }
}

describe('WorkerStripeCoder in a worker thread', () => {
  let coder: WorkerStripeCoder;
  beforeAll(async () => {
    coder = await createNodeWorkerCoder({ workers: 2 });
  });
  afterAll(() => coder?.close());

  it('encodes like the in-thread coder and leaves the input usable', async () => {
    const data = shardsOf(4, 10_001, 1);
    const parity = await coder.encode(data, 3);
    expect(same(parity, local.encode(data, 3))).toBe(true);
    expect(data.every((d) => d.length === 10_001)).toBe(true);
  });

  it('encodeOwned moves the data to the worker and returns all n shards', async () => {
    const data = shardsOf(3, 4096, 2);
    const copy = data.map((d) => d.slice());
    const all = await coder.encodeOwned(data, 2);
    expect(all).toHaveLength(5);
    expect(same(all.slice(0, 3), copy)).toBe(true);
    expect(same(all.slice(3), local.encode(copy, 2))).toBe(true);
    // Transferred, not copied: the caller's buffers are detached.
    expect(data.every((d) => d.byteLength === 0)).toBe(true);
  });

  it('sealEncode cuts, seals, codes and hashes in the worker, as the page would', async () => {
    const subtle = crypto.subtle;
    const keys = await fileKeys(11);
    // A whole stripe, and a short last one (its last piece zero padded).
    for (const [length, last] of [
      [12_000, false],
      [10_001, true],
    ] as const) {
      const stripe = seededBytes(length, 13);
      const copy = stripe.slice();
      const { shards, digests } = await coder.sealEncode(keys, 6, stripe, 3, last, 2, true);
      const sealed = await sealPieces(subtle, keys, 6, splitStripe(copy, 3), last);
      expect(same(shards, [...sealed, ...local.encode(sealed, 2)])).toBe(true);
      const expected = await Promise.all(
        shards.map(async (s) => new Uint8Array(await subtle.digest('SHA-256', s as BufferSource))),
      );
      expect(same(digests ?? [], expected)).toBe(true);
      // The plaintext moved to the worker (no copy); the worker's data shards open as chunks
      // 6..8, the last one final only when asked (of a 9-chunk file, else of a 12-chunk one).
      expect(stripe.byteLength).toBe(0);
      const opened = await openPieces(subtle, keys, 6, shards.slice(0, 3), last ? 9 : 12);
      expect(same(opened, splitStripe(copy, 3))).toBe(true);
    }
  });

  it('never detaches a Buffer’s memory: its slices are views, so what moves is copied', async () => {
    const keys = await fileKeys(20);
    const big = Buffer.from(seededBytes(8 * 1024, 22));
    const keep = new Uint8Array(big);
    await coder.sealEncode(keys, 0, big.subarray(0, 4 * 1024), 2, false, 1, true);
    const views = [big.subarray(0, 1024), big.subarray(1024, 2048)];
    await coder.encodeOwned(views, 1);
    await coder.encode([big.subarray(0, 512), big.subarray(512, 1024)], 1);
    expect(big.byteLength).toBe(8 * 1024);
    expect(bytesEqual(big, keep)).toBe(true);
  });

  it('encodeOwned copies views that share a buffer instead of detaching it', async () => {
    const big = seededBytes(3 * 1000 + 7, 3);
    const views = [0, 1, 2].map((i) => big.subarray(7 + i * 1000, 7 + (i + 1) * 1000));
    const expected = local.encode(views, 2);
    const all = await coder.encodeOwned(views, 2);
    expect(big.byteLength).toBe(3007);
    expect(same(all.slice(3), expected)).toBe(true);
  });

  it('rebuilds every erasure pattern of a (3,6) code, data and parity', async () => {
    const k = 3;
    const m = 3;
    const data = shardsOf(k, 777, 4);
    const full = [...data, ...local.encode(data, m)];
    const jobs: Promise<boolean>[] = [];
    for (let mask = 0; mask < 1 << (k + m); mask++) {
      const lost = [...Array(k + m).keys()].filter((i) => mask & (1 << i));
      if (lost.length > m) continue;
      const given = full.map((s, i) => (lost.includes(i) ? undefined : s));
      jobs.push(coder.reconstruct(given, k, m).then((all) => same(all, full)));
    }
    const ok = await Promise.all(jobs);
    expect(ok).toHaveLength(42); // C(6,0)+C(6,1)+C(6,2)+C(6,3)
    expect(ok.every(Boolean)).toBe(true);
  });

  it('reports the coder’s own errors with their classes and codes', async () => {
    await expect(coder.encode(shardsOf(2, 10, 5), 0)).rejects.toBeInstanceOf(CoderParamsError);
    const few = coder.reconstruct([shardsOf(1, 10, 6)[0], undefined, undefined], 2, 1);
    await expect(few).rejects.toBeInstanceOf(NotEnoughShardsError);
    await expect(few).rejects.toMatchObject({ code: 'NOT_ENOUGH_SHARDS', present: 1, needed: 2 });
  });

  it('restart rejects calls in flight with CODER_WORKER_FAILED; the next call works', async () => {
    const data = shardsOf(4, 1 << 20, 7);
    const inFlight = coder.encode(data, 2);
    coder.restart('killed by the test');
    const err = await inFlight.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoderWorkerError);
    expect((err as CoderWorkerError).code).toBe('CODER_WORKER_FAILED');
    expect((err as Error).message).toContain('killed by the test');
    expect(same(await coder.encode(data, 2), local.encode(data, 2))).toBe(true);
  });
});

type Mode = 'ok' | 'die' | 'hang' | 'bad-init' | 'no-digests' | 'short-reply';

/**
 * A worker in this thread: the real handler, but it can die, hang, fail its init or (as an
 * older build would) ignore a request for digests.
 */
function scriptedPort(mode: () => Mode, log: string[], sent: CoderRequest[] = []): CoderPort {
  let onReply: (r: CoderReply) => void = () => {};
  let onDead: (d: string) => void = () => {};
  let alive = true;
  const handle = coderServer((reply) => {
    // A faulty worker: one shard and one digest short.
    if (reply.ok && mode() === 'short-reply') {
      reply = { ...reply, shards: reply.shards.slice(1), digests: reply.digests?.slice(1) };
    }
    setTimeout(() => alive && onReply(reply), 0);
  });
  return {
    postMessage(msg: CoderRequest) {
      log.push(msg.op);
      sent.push(msg);
      const m = mode();
      if (msg.op === 'init' && m === 'bad-init') {
        setTimeout(
          () => onReply({ id: msg.id, ok: false, error: { name: 'Error', message: 'no wasm' } }),
          0,
        );
        return;
      }
      if (msg.op !== 'init' && m === 'die') {
        setTimeout(() => alive && onDead('scripted crash'), 0);
        return;
      }
      if (msg.op !== 'init' && m === 'hang') return;
      if (msg.op === 'sealEncode' && m === 'no-digests') return handle({ ...msg, digests: false });
      handle(msg);
    },
    listen(r, d) {
      onReply = r;
      onDead = d;
    },
    terminate() {
      alive = false;
      log.push('terminate');
    },
  };
}

describe('WorkerStripeCoder failures', () => {
  it('a worker that dies rejects its calls in flight; the next call gets a fresh worker', async () => {
    let mode: Mode = 'die';
    const log: string[] = [];
    const coder = new WorkerStripeCoder({ spawn: () => scriptedPort(() => mode, log), module });
    const data = shardsOf(2, 100, 8);
    const [a, b] = [coder.encode(data, 1), coder.encode(data, 1)];
    expect(await codeOf(a)).toBe('CODER_WORKER_FAILED');
    expect(await codeOf(b)).toBe('CODER_WORKER_FAILED');
    await expect(a).rejects.toThrow(/scripted crash/);
    expect(coder.inFlight).toBe(0);
    mode = 'ok';
    expect(same(await coder.encode(data, 1), local.encode(data, 1))).toBe(true);
    expect(coder.started).toBe(2);
    expect(log.filter((x) => x === 'terminate')).toHaveLength(1);
  });

  it('sealEncode refuses a reply without a digest for every shard', async () => {
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => 'no-digests', []),
      module,
    });
    const keys = await fileKeys(10);
    const err = await coder
      .sealEncode(keys, 0, seededBytes(128, 10), 2, false, 1, true)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoderWorkerError);
    expect((err as Error).message).toContain('no SHA-256 digest for every shard');
    coder.close();
  });

  it('sealEncode sends the content key and file id only, never the metadata key', async () => {
    const sent: CoderRequest[] = [];
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => 'ok', [], sent),
      module,
    });
    const keys = await fileKeys(14);
    const { shards } = await coder.sealEncode(keys, 0, seededBytes(128, 16), 2, true, 1, true);
    expect(shards).toHaveLength(3);
    const msg = sent.find((m) => m.op === 'sealEncode');
    expect(msg && Object.keys(msg.op === 'sealEncode' ? msg.keys : {}).sort()).toEqual([
      'content',
      'fileId',
    ]);
    coder.close();
  });

  it('sealEncode refuses a reply with too few shards or digests', async () => {
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => 'short-reply', []),
      module,
    });
    const keys = await fileKeys(17);
    const err = await coder
      .sealEncode(keys, 0, seededBytes(128, 19), 2, false, 2, true)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoderWorkerError);
    expect((err as Error).message).toContain('sent 3 shards, not 4');
    coder.close();
  });

  it('a worker that never answers is killed after callTimeoutMs', async () => {
    let mode: Mode = 'hang';
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => mode, []),
      module,
      callTimeoutMs: 200,
    });
    const t0 = Date.now();
    const err = await coder.encode(shardsOf(2, 10, 9), 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoderWorkerError);
    expect((err as Error).message).toContain('no answer within 200 ms');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    mode = 'ok';
    expect(await coder.encode(shardsOf(2, 10, 9), 1)).toHaveLength(1);
  });

  it('a worker whose coder cannot start fails warm() and its calls', async () => {
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => 'bad-init', []),
      module,
    });
    await expect(coder.warm()).rejects.toThrow(/no wasm/);
    expect(await codeOf(coder.encode(shardsOf(2, 10, 10), 1))).toBe('CODER_WORKER_FAILED');
    expect(coder.workers).toBe(0);
  });

  it('a spawn that throws gives CODER_WORKER_FAILED, and close() refuses later calls', async () => {
    const coder = new WorkerStripeCoder({
      spawn: () => {
        throw new Error('Worker is not defined');
      },
      module,
    });
    const err = await coder.encode(shardsOf(2, 10, 11), 1).catch((e: unknown) => e);
    expect((err as WosError).code).toBe('CODER_WORKER_FAILED');
    expect((err as Error).message).toContain('Worker is not defined');
    const ok = new WorkerStripeCoder({ spawn: () => scriptedPort(() => 'ok', []), module });
    await ok.warm();
    ok.close();
    await expect(ok.encode(shardsOf(2, 10, 12), 1)).rejects.toThrow(/closed/);
  });

  it('spreads concurrent calls over the pool, up to its size', async () => {
    const log: string[] = [];
    const coder = new WorkerStripeCoder({
      spawn: () => scriptedPort(() => 'ok', log),
      module,
      size: 2,
    });
    const data = shardsOf(3, 64, 13);
    await Promise.all([0, 1, 2, 3].map(() => coder.encode(data, 2)));
    expect(coder.workers).toBe(2);
    expect(log.filter((x) => x === 'init')).toHaveLength(2);
    await coder.encode(data, 2);
    expect(coder.workers).toBe(2);
    coder.close();
  });
});
