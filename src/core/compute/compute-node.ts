import * as v from 'valibot';
import { WithAttachment } from '../bus.ts';
import { WosError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import { KernelError } from './errors.ts';
import type { Executor } from './executor.ts';
import { kernelIdOf, makeKernel, type Kernel } from './kernel.ts';
import {
  KernelReplySchema,
  KernelRequestSchema,
  LeaseIdSchema,
  LeaseRequestSchema,
  isRunBody,
  ReportSchema,
  RunSchema,
  type ItemResult,
} from './protocol.ts';
import { LeaseTable, plan, type Candidate } from './scheduler.ts';
import { packValue, unpackValue } from './value-codec.ts';

/**
 * A node's compute role: it runs tasks for others on its executors (fetching each kernel
 * once from the requester and checking its hash), and while it is coordinator it grants
 * leases from the registry and keeps the mesh's reliability scores.
 */
const KERNEL_CACHE = 256;

export class ComputeNode {
  readonly node: MeshNode;
  readonly #executors: Executor[];
  readonly #subtle: SubtleCrypto;
  readonly kernels = new Map<string, Kernel>();
  readonly #fetching = new Map<string, Promise<Kernel>>();
  readonly leases = new LeaseTable();
  readonly #reputation = new Map<string, { ok: number; bad: number }>();
  #leaseSeq = 0;
  tasksRun = 0;

  constructor(node: MeshNode, executors: Executor[], subtle: SubtleCrypto) {
    this.node = node;
    this.#executors = executors;
    this.#subtle = subtle;
    const bus = node.bus;
    bus.handle('cx.run', RunSchema, (m) => this.#run(m.body, m.bin, m.from), isRunBody);
    bus.handle('cx.kernel', KernelRequestSchema, (m) => {
      const k = this.kernels.get(m.body.k);
      if (!k) throw new WosError('UNKNOWN_KERNEL', `kernel ${m.body.k} is not known here`);
      return { spec: k.spec };
    });
    bus.handle('cx.lease', LeaseRequestSchema, (m) => this.#grant(m.from, m.body));
    node.members.on('leave', ({ id, reason }) => {
      // A node that went silent keeps its record (it may come back); one that said goodbye is gone.
      if (reason === 'left') this.#reputation.delete(id);
    });
    bus.handle('cx.renew', LeaseIdSchema, (m) => {
      const l = this.leases.get(m.body.id);
      if (!l || l.requester !== m.from)
        throw new WosError('NO_LEASE', `lease ${m.body.id} is gone`);
      l.expiresAt = Date.now() + 30_000;
      return {};
    });
    bus.handle('cx.release', LeaseIdSchema, (m) => ({
      released: this.leases.release(m.body.id, m.from),
    }));
    bus.handle('cx.report', ReportSchema, (m) => {
      // Only about members: the table never outgrows the mesh, whatever ids a peer names.
      if (!node.members.isAlive(m.body.node)) return {};
      const r = this.#reputation.get(m.body.node) ?? { ok: 0, bad: 0 };
      if (m.body.outcome === 'ok') r.ok++;
      else r.bad += m.body.outcome === 'disagreed' ? 3 : 1;
      this.#reputation.set(m.body.node, r);
      return {};
    });
  }

  /** Remembers a local kernel so the nodes that run it can fetch it. */
  register(k: Kernel): void {
    this.kernels.set(k.id, k);
  }

  reliability(node: string): number {
    const r = this.#reputation.get(node) ?? { ok: 0, bad: 0 };
    // New nodes start trusted; every failure or disagreement lowers the score.
    return (r.ok + 1) / (r.ok + r.bad + 1);
  }

  executorFor(kind: 'js' | 'wgsl'): Executor | undefined {
    return this.#executors.find((e) => e.kinds.includes(kind) && e.load().workers > 0);
  }

  #grant(from: string, req: v.InferOutput<typeof LeaseRequestSchema>): unknown {
    if (!this.node.election.isCoordinator) {
      throw new WosError(
        'NOT_COORDINATOR',
        'this node is not the coordinator; ask the current one',
      );
    }
    const now = Date.now();
    this.leases.sweep(now, (id) => this.node.members.isAlive(id));
    const view = this.node.registry.view();
    const candidates: Candidate[] = [...view].map(([id, e]) => ({
      id,
      resources: e.resources,
      leased: this.leases.leasedOn(id),
      reliability: this.reliability(id),
    }));
    const rtt = view.get(from)?.resources.rttMs ?? {};
    const slots = plan(
      candidates,
      { kind: req.kind, n: req.n, requester: from, exclude: req.exclude ?? [] },
      rtt,
    );
    if (slots.length === 0) {
      throw new WosError(
        'NO_CAPACITY',
        `no node offers ${req.kind === 'gpu' ? 'a GPU' : 'CPU workers'} now`,
      );
    }
    const id = `${this.node.id}/L${++this.#leaseSeq}`;
    this.leases.add({ id, requester: from, kind: req.kind, slots, expiresAt: now + req.ttlMs });
    return { id, slots, ttlMs: req.ttlMs };
  }

  async #kernel(id: string, from: string): Promise<Kernel> {
    const known = this.kernels.get(id);
    if (known) return known;
    let p = this.#fetching.get(id);
    if (!p) {
      p = (async () => {
        const r = await this.node.bus.request(from, 'cx.kernel', { k: id }, { timeoutMs: 10_000 });
        const parsed = v.safeParse(KernelReplySchema, r.body);
        if (!parsed.success)
          throw new WosError('KERNEL_LOAD_FAILED', `bad kernel reply from ${from}`);
        if ((await kernelIdOf(this.#subtle, parsed.output.spec)) !== id) {
          throw new WosError(
            'KERNEL_LOAD_FAILED',
            `kernel from ${from} does not match its id ${id}`,
          );
        }
        const k: Kernel = { id, spec: parsed.output.spec };
        if (this.kernels.size >= KERNEL_CACHE)
          this.kernels.delete(this.kernels.keys().next().value!);
        this.kernels.set(id, k);
        return k;
      })().finally(() => this.#fetching.delete(id));
      this.#fetching.set(id, p);
    }
    return p;
  }

  #run(
    body: v.InferOutput<typeof RunSchema>,
    bin: Uint8Array | undefined,
    from: string,
  ): Promise<unknown> {
    const t0 = Date.now();
    // A known kernel (every task after the first) starts without waiting a microtask.
    const known = this.kernels.get(body.k);
    if (known) return this.#runWith(known, body, bin, t0);
    return this.#kernel(body.k, from).then((k) => this.#runWith(k, body, bin, t0));
  }

  async #runWith(
    kernel: Kernel,
    body: v.InferOutput<typeof RunSchema>,
    bin: Uint8Array | undefined,
    t0: number,
  ): Promise<unknown> {
    const items = unpackValue(body.items, bin) as unknown[];
    let exec = this.executorFor(kernel.spec.kind);
    let runAs = kernel;
    if (!exec && kernel.spec.kind === 'wgsl' && kernel.spec.fallback) {
      runAs = await makeKernel(this.#subtle, kernel.spec.fallback);
      exec = this.executorFor('js');
    }
    if (!exec)
      throw new WosError('NO_EXECUTOR', `this node cannot run ${kernel.spec.kind} kernels`);
    const e = exec;
    let itemMs = Infinity;
    const clock = this.node.clock;
    // Timed here only for executors that do not time their tasks themselves.
    const now = e.taskMs ? (): number => 0 : (): number => clock.precise?.() ?? clock.now();
    const opts = { timeoutMs: body.timeoutMs };
    const one = (input: unknown): Promise<ItemResult> => {
      const t = now();
      let run: Promise<unknown>;
      try {
        run = e.run(runAs, input, opts);
      } catch (err) {
        run = Promise.reject(err);
      }
      return run.then(
        (ok) => {
          itemMs = Math.min(itemMs, now() - t);
          this.tasksRun++;
          return { ok };
        },
        (err: unknown) => {
          const w = err instanceof WosError ? err : new KernelError(String(err));
          const out: ItemResult = { err: { code: w.code, message: w.message.slice(0, 4000) } };
          const stack = w instanceof KernelError ? w.kernelStack : undefined;
          if (stack) out.err.stack = stack.slice(0, 8000);
          return out;
        },
      );
    };
    const results: ItemResult[] =
      items.length === 1 ? [await one(items[0])] : await Promise.all(items.map(one));
    const packed = packValue(results);
    // The executor's own measure when it has one: timed around each call inside the worker.
    if (e.taskMs) itemMs = e.taskMs(runAs) ?? Infinity;
    const reply = {
      results: packed.json,
      ms: Date.now() - t0,
      ...(itemMs < Infinity ? { itemMs } : {}),
    };
    return packed.bin ? new WithAttachment(reply, packed.bin) : reply;
  }
}
