/**
 * The dispatcher's queue of jobs waiting for a node. Taking the next jobs a device may run is
 * O(1) per job (a head index, no `splice`): entries are only marked as taken, and the head
 * skips past them. Jobs a device must not run (verification) are stepped over and stay for
 * others. Re-queued jobs (their node was lost) go first, in a small separate list.
 */
export interface QueuedJob {
  index: number;
  /** Devices that must not run this job. */
  excludeDevices: Set<string>;
}

export class JobQueue<J extends QueuedJob> {
  #items: (J | undefined)[];
  #head = 0;
  /** Jobs put back after a failure; taken before the main list. */
  #again: J[] = [];
  #size: number;

  constructor(jobs: readonly J[]) {
    this.#items = [...jobs];
    this.#size = jobs.length;
  }

  /** Jobs waiting (including any whose result has arrived meanwhile). */
  get size(): number {
    return this.#size;
  }

  /** Puts a job back, ahead of those never tried. */
  retry(job: J): void {
    this.#again.push(job);
    this.#size++;
  }

  /** Puts a job back at the end. */
  push(job: J): void {
    this.#items.push(job);
    this.#size++;
  }

  /**
   * Up to `n` jobs `device` may run, oldest first; jobs for which `isDone` holds are dropped
   * on the way.
   */
  take(device: string, n: number, isDone: (j: J) => boolean): J[] {
    const out: J[] = [];
    if (this.#again.length > 0) {
      const keep: J[] = [];
      for (const j of this.#again) {
        if (isDone(j)) this.#size--;
        else if (out.length < n && !j.excludeDevices.has(device)) {
          out.push(j);
          this.#size--;
        } else keep.push(j);
      }
      this.#again = keep;
    }
    const items = this.#items;
    for (let i = this.#head; i < items.length && out.length < n; i++) {
      const j = items[i];
      if (j === undefined) {
        if (i === this.#head) this.#head++;
        continue;
      }
      const drop = isDone(j);
      if (!drop && j.excludeDevices.has(device)) continue;
      items[i] = undefined;
      this.#size--;
      if (i === this.#head) this.#head++;
      if (!drop) out.push(j);
    }
    if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** Whether any waiting job, not yet done, may run on `device`. */
  anyFor(device: string, isDone: (j: J) => boolean): boolean {
    const ok = (j: J | undefined): boolean =>
      j !== undefined && !isDone(j) && !j.excludeDevices.has(device);
    if (this.#again.some(ok)) return true;
    for (let i = this.#head; i < this.#items.length; i++) if (ok(this.#items[i])) return true;
    return false;
  }

  /** How many waiting jobs are not done. */
  pending(isDone: (j: J) => boolean): number {
    let n = 0;
    for (const j of this.#again) if (!isDone(j)) n++;
    for (let i = this.#head; i < this.#items.length; i++) {
      const j = this.#items[i];
      if (j !== undefined && !isDone(j)) n++;
    }
    return n;
  }
}
