import { sleep, type Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';
import { deleteFile, putTimed, storeOf } from './lib/storage-page.ts';

/**
 * Time to restore full redundancy after a holder is lost. A mesh of 5 tabs (A, the owner, and
 * 4 holders). Per run: A puts a fresh file of random bytes (the default code for 4 holders,
 * (2,4): one shard of every stripe on each holder); a spare tab joins (a store with room that
 * holds none of the file); then one holder's renderer is crashed (CDP `Page.crash`: no
 * goodbye, its shards gone with it). In A, as soon as the holder vanishes from `wos.nodes()`,
 * `files.repair` runs (audit, fetch k shards per stripe, rebuild the lost one in the coder
 * worker, put it on the spare, re-sign and publish the manifest), then `wos.files.health`.
 *
 * Reported: crash → gone from A's view (failure detection), the repair pass, and crash →
 * healthy again (their sum, all `Date.now()` in the same machine). The app itself runs its
 * repair loop every 60 s (src/platform/browser-app.ts), so without an explicit call a user
 * waits up to that much longer; this bench measures the pipeline, not that schedule.
 */
export interface StorageRepairRun {
  detectMs: number;
  repairMs: number;
  totalMs: number;
  rebuilt: number;
  /** Bytes of the rebuilt shards placed on the spare. */
  rebuiltBytes: number;
  before: string;
  after: string;
  health: string;
  /** Where the rebuilt shards went: the spare, the owner's own store, or elsewhere. */
  placedOn: string;
}

export interface StorageRepairResult {
  name: 'storage-repair';
  tabs: number;
  fileBytes: number;
  code: string;
  total: Stat;
  detect: Stat;
  repair: Stat;
  /** Rebuilt shard bytes per second of the repair pass. */
  repairMBps: Stat;
  details: StorageRepairRun[];
}

const MiB = 1024 * 1024;
const STRIPE = 4 * MiB;

export async function runStorageRepairBench(
  h: Harness,
  runs: number,
  fileMiB: number,
  log: (line: string) => void,
): Promise<StorageRepairResult> {
  const a = await h.openTab(h.url);
  const invite = await h.invite();
  for (let i = 0; i < 4; i++) await h.openTab(invite);
  await h.settle(20_000, 3000);
  const fileBytes = fileMiB * MiB;
  const details: StorageRepairRun[] = [];
  let code = '';
  for (let r = 0; r < runs; r++) {
    const put = await putTimed(a.page, fileBytes, STRIPE, `repair-${r}.bin`);
    code = `(${put.k},${put.n})`;
    if (put.localShards > 0 || put.stores !== put.n) {
      throw new Error(`run ${r}: expected ${put.n} remote stores, got ${put.stores}`);
    }
    const spare = await h.openTab(invite);
    // The join makes the owner's repair scheduler run a pass 2 s later (a no-op here): it
    // must be over before the crash, or two passes would repair the same file at once.
    await h.settle(20_000, 5000);
    const spareStore = await storeOf(spare.page);
    const ownStore = await storeOf(a.page);
    const holders = h.tabs.filter((t) => t !== a && t !== spare);
    const victim = holders[r % holders.length]!;
    const shardBytes = Math.ceil(STRIPE / put.k) + 16;
    // Armed before the crash: repair starts the moment A's membership drops the victim.
    await a.page.evaluate(
      ({ victim, id }) => {
        const w = window as unknown as { __repairDone: Promise<unknown> };
        w.__repairDone = new Promise((resolve, reject) => {
          let fired = false;
          const off = window.wos.on('nodes', (nodes) => {
            if (fired || nodes.some((n) => n.id === victim)) return;
            fired = true;
            setTimeout(() => off(), 0);
            const goneAt = Date.now();
            void (async () => {
              const rt = await window.__wosApp.started;
              const rep = await rt.storage.files.repair(id);
              const doneAt = Date.now();
              const health = await window.wos.files.health(id);
              const where = await rt.storage.files.locate(id);
              return {
                goneAt,
                doneAt,
                rebuilt: rep.rebuilt,
                before: rep.before.state,
                after: rep.after.state,
                health: health.state,
                stores: where,
              };
            })().then(resolve, reject);
          });
        });
      },
      { victim: victim.id, id: put.id },
    );
    const crashAt = Date.now();
    await h.crashTab(victim);
    const res = (await a.page.evaluate(
      () => (window as unknown as { __repairDone: Promise<unknown> }).__repairDone,
    )) as {
      goneAt: number;
      doneAt: number;
      rebuilt: number;
      before: string;
      after: string;
      health: string;
      stores: string[][];
    };
    const run: StorageRepairRun = {
      detectMs: res.goneAt - crashAt,
      repairMs: res.doneAt - res.goneAt,
      totalMs: res.doneAt - crashAt,
      rebuilt: res.rebuilt,
      rebuiltBytes: res.rebuilt * shardBytes,
      before: res.before,
      after: res.after,
      health: res.health,
      placedOn: res.stores.every((s) => s.includes(spareStore))
        ? 'spare'
        : res.stores.some((s) => s.includes(ownStore))
          ? 'owner'
          : 'other',
    };
    details.push(run);
    log(
      `storage-repair ${r + 1}/${runs}: ${code} ${fileMiB} MiB; crash → gone ${run.detectMs} ms, ` +
        `repair ${run.repairMs} ms (${run.rebuilt} shards rebuilt, ${run.before} → ${run.after}, ` +
        `health ${run.health}, placed on the ${run.placedOn}); total ${run.totalMs} ms`,
    );
    if (run.after !== 'healthy' || run.health !== 'healthy') {
      throw new Error(`run ${r}: the file is ${run.health} after repair, not healthy`);
    }
    await deleteFile(a.page, put.id);
    await h.settle(20_000, 1000);
    await h.reap();
    await sleep(500);
  }
  const per = (pick: (d: StorageRepairRun) => number, unit: string, digits = 0): Stat =>
    stat(unit, details.map(pick), digits);
  return {
    name: 'storage-repair',
    tabs: 5,
    fileBytes,
    code,
    total: per((d) => d.totalMs, 'ms'),
    detect: per((d) => d.detectMs, 'ms'),
    repair: per((d) => d.repairMs, 'ms'),
    repairMBps: per((d) => d.rebuiltBytes / 1e6 / (d.repairMs / 1000), 'MB/s', 1),
    details,
  };
}
