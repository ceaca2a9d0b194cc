import * as v from 'valibot';
import { ArgumentError, WosError } from '../errors.ts';
import { deviceOfNode } from '../identity.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { ComputeNode } from './compute-node.ts';
import { dispatch, type Job, type JobResult } from './dispatcher.ts';
import { makeKernel, type Kernel, type KernelSpec } from './kernel.ts';
import { LeaseHandle, type GrantedLease, type LeaseBackend } from './lease-handle.ts';
import { LeaseGrantSchema } from './protocol.ts';
import type { ResourceKind, Slot } from './scheduler.ts';

/**
 * The requester's side of compute: `use("cpu", n)` / `use("gpu")` leases the best nodes from
 * the coordinator; `map` fans a list out over the mesh. Applications never name a peer.
 */
export interface MapOptions {
  /** Per-task time limit, ms (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Run each task on this many distinct devices and accept the majority result. */
  verify?: number;
  /** Worker slots to lease (default: as many as the mesh offers, up to the task count). */
  workers?: number;
  /** Tasks per request; by default adapts to how long tasks take. */
  batch?: number;
  maxAttempts?: number;
  /** Called as each task completes (in completion order), with the input's index. */
  onProgress?: (done: number, total: number, last: MapResult & { index: number }) => void;
  kind?: ResourceKind;
}

export interface MapResult {
  value: unknown;
  /** The node that computed it (with verification: one of the agreeing nodes). */
  node: string;
  /** Nodes that agreed, with verification. */
  agreed?: string[];
  ms: number;
}

export type { GrantedLease };

export class ComputeClient implements LeaseBackend {
  readonly #node: MeshNode;
  readonly #compute: ComputeNode;
  readonly #subtle: SubtleCrypto;

  constructor(node: MeshNode, compute: ComputeNode, subtle: SubtleCrypto) {
    this.#node = node;
    this.#compute = compute;
    this.#subtle = subtle;
  }

  /** A kernel from ES-module source text, or a WGSL spec; content-addressed. */
  async kernel(spec: string | KernelSpec): Promise<Kernel> {
    const k = await makeKernel(this.#subtle, spec);
    this.#compute.register(k);
    return k;
  }

  /** Asks the coordinator for `n` worker slots (cpu) or one GPU node. */
  async lease(
    kind: ResourceKind,
    n: number,
    exclude: string[] = [],
    signal?: AbortSignal,
  ): Promise<GrantedLease> {
    const c = this.#node.coordinator();
    if (c === undefined)
      throw new WosError('NO_COORDINATOR', 'the mesh has no coordinator yet; wait for wos.ready');
    const r = await this.#node.bus.request(
      c,
      'cx.lease',
      { kind, n, ttlMs: 30_000, exclude },
      { timeoutMs: 5000, ...(signal ? { signal } : {}) },
    );
    return v.parse(LeaseGrantSchema, r.body);
  }

  async release(id: string): Promise<void> {
    const c = this.#node.coordinator();
    if (c !== undefined)
      await this.#node.bus.request(c, 'cx.release', { id }, { timeoutMs: 3000 }).catch(() => {});
  }

  async renew(id: string): Promise<boolean> {
    const c = this.#node.coordinator();
    if (c === undefined) return false;
    return this.#node.bus.request(c, 'cx.renew', { id }, { timeoutMs: 3000 }).then(
      () => true,
      () => false,
    );
  }

  /** `use("cpu", n)` / `use("gpu")`: a lease on the best node(s). */
  async use(kind: ResourceKind, n = 1, opts: { signal?: AbortSignal } = {}): Promise<LeaseHandle> {
    if (kind !== 'cpu' && kind !== 'gpu')
      throw new ArgumentError(`use() takes "cpu" or "gpu", not ${String(kind)}`);
    if (!Number.isInteger(n) || n < 1)
      throw new ArgumentError(`use("${kind}", n): n must be a positive integer`);
    const grant = await this.lease(kind, kind === 'gpu' ? 1 : n, [], opts.signal);
    return new LeaseHandle(this, kind, kind === 'gpu' ? 1 : n, grant);
  }

  report(node: string, outcome: 'ok' | 'failed' | 'disagreed'): void {
    const c = this.#node.coordinator();
    if (c !== undefined)
      void this.#node.bus
        .request(c, 'cx.report', { node, outcome }, { timeoutMs: 3000 })
        .catch(() => {});
  }

  /** Runs jobs on slots of a lease, re-leasing when nodes are lost. Used by map and leases. */
  async runJobs(
    kernel: Kernel,
    jobs: Job[],
    slots: Slot[],
    kind: ResourceKind,
    o: Omit<MapOptions, 'verify' | 'onProgress' | 'workers' | 'kind'> & {
      onResult?: (j: Job, r: JobResult) => void;
    },
  ): Promise<Map<number, JobResult>> {
    return dispatch(this.#node, kernel, jobs, slots, {
      timeoutMs: o.timeoutMs ?? 30_000,
      signal: o.signal,
      maxAttempts: o.maxAttempts ?? 4,
      batch: o.batch,
      depth: 2,
      recoveryMs: 15_000,
      ...(o.onResult ? { onResult: o.onResult } : {}),
      moreSlots: async (exclude) => {
        const g = await this.lease(kind, Math.max(1, jobs.length), exclude);
        void this.release(g.id);
        return g.slots;
      },
    });
  }

  /** Fans `inputs` out over the mesh; results come back in order, each with its node. */
  async map(
    kernel: Kernel | string,
    inputs: readonly unknown[],
    o: MapOptions = {},
  ): Promise<MapResult[]> {
    const k = typeof kernel === 'string' ? await this.kernel(kernel) : kernel;
    this.#compute.register(k);
    const verify = o.verify ?? 1;
    if (!Number.isInteger(verify) || verify < 1)
      throw new ArgumentError('verify must be a positive integer');
    if (inputs.length === 0) return [];
    const kind: ResourceKind = o.kind ?? (k.spec.kind === 'wgsl' ? 'gpu' : 'cpu');
    const grant = await this.lease(
      kind,
      o.workers ?? Math.min(inputs.length * verify, 1024),
      [],
      o.signal,
    );
    const runs: JobResult[][] = inputs.map(() => []);
    let done = 0;
    try {
      for (let round = 0; round < verify; round++) {
        const jobs: Job[] = inputs.map((input, index) => ({
          index,
          input,
          excludeDevices: new Set(runs[index]!.map((r) => deviceOfNode(r.node))),
          attempts: 0,
        }));
        const res = await this.runJobs(k, jobs, grant.slots, kind, {
          ...o,
          onResult: (job, r) => {
            if (verify === 1)
              o.onProgress?.(++done, inputs.length, {
                value: r.value,
                node: r.node,
                ms: r.ms,
                index: job.index,
              });
          },
        });
        for (const [i, r] of res) runs[i]!.push(r);
      }
    } finally {
      void this.release(grant.id);
    }
    if (verify === 1)
      return runs.map((r) => ({ value: r[0]!.value, node: r[0]!.node, ms: r[0]!.ms }));
    return runs.map((rs, i) => {
      const groups = new Map<string, JobResult[]>();
      for (const r of rs) groups.set(r.fingerprint, [...(groups.get(r.fingerprint) ?? []), r]);
      const best = [...groups.values()].sort((a, b) => b.length - a.length)[0]!;
      if (best.length * 2 <= rs.length) {
        for (const r of rs) this.report(r.node, 'disagreed');
        throw new WosError('VERIFY_FAILED', `task ${i}: no majority among ${rs.length} results`);
      }
      for (const r of rs) this.report(r.node, best.includes(r) ? 'ok' : 'disagreed');
      const out: MapResult = {
        value: best[0]!.value,
        node: best[0]!.node,
        agreed: best.map((r) => r.node),
        ms: best[0]!.ms,
      };
      o.onProgress?.(++done, inputs.length, { ...out, index: i });
      return out;
    });
  }
}
