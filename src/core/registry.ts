import * as v from 'valibot';
import type { Bus } from './bus.ts';
import { every, type Clock } from './clock.ts';
import { compareTerms, TermSchema, type Election, type Term } from './election.ts';
import { Emitter } from './emitter.ts';
import type { Membership } from './membership.ts';
import { ResourcesSchema, type Resources } from './resources.ts';
import { NodeIdSchema } from './wire.ts';

/**
 * The mesh's resource registry, held by the coordinator. Every node sends its own resources
 * (versioned) to the coordinator of the current term; the coordinator publishes numbered
 * snapshots to every member. A snapshot or update stamped with a term lower than the highest
 * one a node has seen is refused: a deposed coordinator cannot overwrite the registry.
 */
export interface RegistryEntry {
  ver: number;
  resources: Resources;
}

const PutSchema = v.strictObject({
  term: TermSchema,
  ver: v.pipe(v.number(), v.integer(), v.minValue(1)),
  res: ResourcesSchema,
});
const SnapSchema = v.strictObject({
  term: TermSchema,
  seq: v.pipe(v.number(), v.integer(), v.minValue(1)),
  entries: v.pipe(
    v.array(
      v.tuple([NodeIdSchema, v.pipe(v.number(), v.integer(), v.minValue(1)), ResourcesSchema]),
    ),
    v.maxLength(4096),
  ),
});

export interface RegistryOptions {
  /** Full snapshot period (anti-entropy), ms. */
  snapshotMs: number;
  /** Delay that batches changes into one snapshot, ms. */
  debounceMs: number;
}

export class Registry extends Emitter<{ change: ReadonlyMap<string, RegistryEntry> }> {
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #members: Membership;
  readonly #election: Election;
  readonly #opts: RegistryOptions;
  #local: RegistryEntry | undefined;
  /** The coordinator's authoritative table (only used while coordinator). */
  #table = new Map<string, RegistryEntry>();
  /** What this node sees: the latest accepted snapshot. */
  #view = new Map<string, RegistryEntry>();
  #viewTerm: Term | undefined;
  #viewSeq = 0;
  #seq = 0;
  #pendingSnapshot: unknown;
  #stop: (() => void) | undefined;
  fenced = 0;

  constructor(
    bus: Bus,
    clock: Clock,
    members: Membership,
    election: Election,
    opts: RegistryOptions,
  ) {
    super();
    this.#bus = bus;
    this.#clock = clock;
    this.#members = members;
    this.#election = election;
    this.#opts = opts;
    bus.handle('reg.put', PutSchema, (m) => this.#onPut(m.from, m.body));
    bus.handle('reg.snap', SnapSchema, (m) => this.#onSnapshot(m.from, m.body));
    election.on('change', ({ coordinator }) => {
      if (coordinator === bus.nodeId) {
        this.#table = new Map(this.#local ? [[bus.nodeId, this.#local]] : []);
        this.#scheduleSnapshot(0);
      } else this.#publish();
    });
    members.on('leave', ({ id }) => {
      if (this.#election.isCoordinator && this.#table.delete(id)) this.#scheduleSnapshot();
      if (this.#view.delete(id)) this.emit('change', this.#view);
    });
  }

  start(): void {
    this.#stop ??= every(this.#clock, this.#opts.snapshotMs, () => {
      if (this.#election.isCoordinator) this.#scheduleSnapshot(0);
      else this.#publish();
    });
  }

  stop(): void {
    this.#stop?.();
    this.#stop = undefined;
    this.#clock.clearTimeout(this.#pendingSnapshot);
    this.#pendingSnapshot = undefined;
  }

  /** This node's latest resources; sent to the coordinator. */
  setLocal(resources: Resources): void {
    this.#local = { ver: (this.#local?.ver ?? 0) + 1, resources };
    this.#publish();
  }

  get local(): RegistryEntry | undefined {
    return this.#local;
  }

  /** Every member's resources as this node currently sees them. */
  view(): ReadonlyMap<string, RegistryEntry> {
    return this.#view;
  }

  #publish(): void {
    const term = this.#election.term;
    const c = this.#election.coordinator;
    if (!this.#local || !term || c === undefined) return;
    if (c === this.#bus.nodeId) {
      this.#onPut(c, { term, ver: this.#local.ver, res: this.#local.resources });
      return;
    }
    // Skip when the coordinator already shows our latest version.
    if (
      compareTerms(this.#viewTerm, term) === 0 &&
      this.#view.get(this.#bus.nodeId)?.ver === this.#local.ver
    ) {
      return;
    }
    this.#bus
      .send(c, 'reg.put', { term, ver: this.#local.ver, res: this.#local.resources })
      .catch(() => {});
  }

  #onPut(from: string, body: v.InferOutput<typeof PutSchema>): void {
    if (!this.#election.isCoordinator || compareTerms(body.term, this.#election.term) !== 0) return;
    if (!this.#members.isAlive(from)) return;
    const cur = this.#table.get(from);
    if (cur && cur.ver >= body.ver) return;
    this.#table.set(from, { ver: body.ver, resources: body.res });
    this.#scheduleSnapshot();
  }

  #scheduleSnapshot(delay = this.#opts.debounceMs): void {
    if (this.#pendingSnapshot !== undefined) return;
    this.#pendingSnapshot = this.#clock.setTimeout(() => {
      this.#pendingSnapshot = undefined;
      this.#sendSnapshot();
    }, delay);
  }

  #sendSnapshot(): void {
    const term = this.#election.term;
    if (!this.#election.isCoordinator || !term) return;
    for (const id of this.#table.keys()) if (!this.#members.isAlive(id)) this.#table.delete(id);
    const snap = {
      term,
      seq: ++this.#seq,
      entries: [...this.#table].map(([id, e]) => [id, e.ver, e.resources] as const),
    };
    this.#onSnapshot(this.#bus.nodeId, snap as v.InferOutput<typeof SnapSchema>);
    for (const m of this.#members.alive()) this.#bus.send(m.id, 'reg.snap', snap).catch(() => {});
  }

  #onSnapshot(from: string, snap: v.InferOutput<typeof SnapSchema>): void {
    if (from !== snap.term.by || !this.#election.accepts(snap.term)) {
      this.fenced++;
      return;
    }
    const cmp = compareTerms(snap.term, this.#viewTerm);
    if (cmp < 0 || (cmp === 0 && snap.seq <= this.#viewSeq)) return;
    this.#viewTerm = snap.term;
    this.#viewSeq = snap.seq;
    this.#view = new Map(
      snap.entries
        .filter(([id]) => this.#members.isAlive(id))
        .map(([id, ver, resources]) => [id, { ver, resources }]),
    );
    this.emit('change', this.#view);
    if (
      from !== this.#bus.nodeId &&
      this.#local &&
      this.#view.get(this.#bus.nodeId)?.ver !== this.#local.ver
    ) {
      this.#publish();
    }
  }
}
