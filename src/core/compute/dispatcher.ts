import * as v from 'valibot';
import { AbortError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import { KernelError, NoCapacityError } from './errors.ts';
import { JobQueue } from './job-queue.ts';
import type { Kernel } from './kernel.ts';
import { isRunResult, MAX_RUN_ITEMS, RunResultSchema, type ItemResult } from './protocol.ts';
import type { Slot } from './scheduler.ts';
import { packValue, unpackValue } from './value-codec.ts';

/**
 * Runs a set of jobs over leased slots: each worker slot pulls the next job it may take
 * (verification needs distinct devices), in batches sized to the measured task time so tiny
 * tasks are not dominated by round trips. A job whose node is lost or times out goes back in
 * the queue for another node; the first result for a job wins and later duplicates are
 * dropped. A kernel's own error fails the whole run with its message and stack.
 */
export interface Job {
  index: number;
  input: unknown;
  /** Devices that must not run this job (already ran it, for verification). */
  excludeDevices: Set<string>;
  attempts: number;
}

export interface JobResult {
  value: unknown;
  /** Packed form, for comparing results during verification. */
  fingerprint: string;
  node: string;
  ms: number;
}

export interface DispatchOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  maxAttempts: number;
  /** Max tasks per request; default adapts to task time. */
  batch?: number | undefined;
  /** Requests in flight per worker slot. */
  depth: number;
  onResult?: (job: Job, r: JobResult) => void;
  /** How long to keep asking for new slots before giving up, ms. */
  recoveryMs: number;
  /** New slots when all current ones are lost or unsuitable. */
  moreSlots: (exclude: string[]) => Promise<Slot[]>;
}

const RETRYABLE = new Set([
  'UNREACHABLE',
  'TIMEOUT',
  'CLOSED',
  'NODE_LOST',
  'KERNEL_TIMEOUT',
  'NO_EXECUTOR',
  'NO_GPU',
  'NOT_COORDINATOR',
  'GPU_LOST',
]);

const BYTES = new TextDecoder('latin1');

/** A result; its fingerprint (for verification votes) is computed only when asked for. */
function jobResult(value: unknown, node: string, ms: number): JobResult {
  let fp: string | undefined;
  return {
    value,
    node,
    ms,
    get fingerprint(): string {
      if (fp === undefined) {
        const p = packValue(value);
        // windows-1252 maps every byte to its own character: the bytes compare exactly.
        fp = `${JSON.stringify(p.json)}|${p.bin ? BYTES.decode(p.bin) : ''}`;
      }
      return fp;
    },
  };
}

export async function dispatch(
  node: MeshNode,
  kernel: Kernel,
  jobs: Job[],
  initial: Slot[],
  o: DispatchOptions,
): Promise<Map<number, JobResult>> {
  const results = new Map<number, JobResult>();
  const queue = new JobQueue(jobs);
  const isDone = (j: Job): boolean => results.has(j.index);
  const lost = new Set<string>();
  /** Per node, the functions that end its requests in flight. */
  const inflight = new Map<string, Set<(reason: Error) => void>>();
  let fatal: Error | undefined;
  let perTaskMs = 0;
  let samples = 0;

  const offLeave = node.members.on('leave', ({ id }) => {
    lost.add(id);
    for (const end of inflight.get(id) ?? []) end(new WosError('NODE_LOST', `node ${id} left`));
  });
  const onAbort = (): void => {
    fatal = new AbortError('compute run', o.signal?.reason);
    for (const set of inflight.values()) for (const end of set) end(fatal);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const batchSize = (): number => {
    if (o.batch) return Math.min(o.batch, MAX_RUN_ITEMS);
    if (samples === 0) return 1;
    // Aim for ~4 ms of work per request: round trips stay a small share.
    return Math.max(1, Math.min(MAX_RUN_ITEMS, Math.floor(4 / Math.max(perTaskMs, 0.001))));
  };

  const done = (): boolean => fatal !== undefined || results.size === jobs.length;

  const loop = async (slot: Slot): Promise<void> => {
    const device = deviceOfNode(slot.node);
    while (!done() && !lost.has(slot.node)) {
      const batch = queue.take(device, batchSize(), isDone);
      if (batch.length === 0) return;
      let set = inflight.get(slot.node);
      if (!set) inflight.set(slot.node, (set = new Set()));
      let end: ((reason: Error) => void) | undefined;
      const packed = packValue(batch.map((j) => j.input));
      const t0 = Date.now();
      try {
        const r = await node.bus.request(
          slot.node,
          'cx.run',
          { k: kernel.id, timeoutMs: o.timeoutMs, items: packed.json },
          {
            ...(packed.bin ? { bin: packed.bin } : {}),
            timeoutMs: o.timeoutMs * batch.length + 10_000,
            cancel: (e) => set.add((end = e)),
          },
        );
        const body = isRunResult(r.body) ? r.body : v.parse(RunResultSchema, r.body);
        const items = unpackValue(body.results, r.bin) as ItemResult[];
        if (items.length !== batch.length)
          throw new WosError('INVALID_MESSAGE', 'result count mismatch');
        // The batch size follows the task's own cost, not time spent queued behind others;
        // a moving average, so it follows a change of pace within a run.
        const cost = Math.max(0, body.itemMs ?? body.ms / batch.length);
        perTaskMs = samples++ === 0 ? cost : perTaskMs * 0.75 + cost * 0.25;
        const ms = Date.now() - t0;
        items.forEach((item, i) => {
          const job = batch[i]!;
          if ('ok' in item) {
            if (results.has(job.index)) return; // a duplicate from a re-run: the first one won
            const res = jobResult(item.ok, slot.node, ms);
            results.set(job.index, res);
            o.onResult?.(job, res);
          } else if (RETRYABLE.has(item.err.code) && ++job.attempts < o.maxAttempts) {
            queue.push(job);
          } else if (item.err.code === 'KERNEL_ERROR') {
            fatal ??= new KernelError(
              item.err.message.replace(/^kernel failed: /, ''),
              item.err.stack,
              slot.node,
            );
          } else fatal ??= new WosError(item.err.code, item.err.message);
        });
      } catch (e) {
        const code = e instanceof WosError ? e.code : '';
        if (fatal) return;
        if (RETRYABLE.has(code) || code === 'ABORTED') {
          lost.add(slot.node);
          for (const j of batch) {
            if (++j.attempts < o.maxAttempts) queue.retry(j);
            else
              fatal ??= new WosError(
                'TASK_FAILED',
                `task ${j.index} failed ${j.attempts} times; last: ${(e as Error).message}`,
              );
          }
          return;
        }
        fatal = e as Error;
      } finally {
        if (end) set.delete(end);
      }
    }
  };

  try {
    let slots = initial;
    while (!done()) {
      const loops: Promise<void>[] = [];
      for (const s of slots) {
        if (lost.has(s.node)) continue;
        // No more loops than jobs waiting: a lone task (a lease's `run`) starts one.
        const n = Math.min(s.workers * o.depth, Math.max(1, queue.size));
        for (let i = 0; i < n; i++) loops.push(loop(s));
      }
      if (loops.length > 0) await Promise.all(loops);
      if (done()) break;
      // Jobs remain: their nodes were lost or none of the slots may take them. The mesh may
      // be electing a new coordinator or noticing the loss: retry for a while.
      let takers: Slot[] = [];
      const t0 = node.clock.now();
      for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
        if (fatal) throw fatal;
        const fresh = await o.moreSlots([...lost]).catch(() => []);
        takers = fresh.filter(
          (s) => !lost.has(s.node) && queue.anyFor(deviceOfNode(s.node), isDone),
        );
        if (takers.length > 0) break;
        if (node.clock.now() - t0 > o.recoveryMs) {
          const pending = queue.pending(isDone);
          throw new NoCapacityError(
            `${pending} remaining task(s) (every suitable node is gone or busy)`,
          );
        }
        await new Promise((r) => node.clock.setTimeout(() => r(undefined), wait));
      }
      slots = takers;
    }
    if (fatal) throw fatal;
    return results;
  } finally {
    offLeave();
    o.signal?.removeEventListener('abort', onAbort);
  }
}
