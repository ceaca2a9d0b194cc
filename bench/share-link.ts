import type { Harness } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';
import { putTimed } from './lib/storage-page.ts';

/**
 * Opening a share link (issue #5): a mesh of 4 tabs (the owner A and 3 holders, separate
 * contexts; the default code for 3 holders is (1, 3)) holds a file of random bytes; A shares
 * it. Per run a fresh profile with no account opens the link: the page loads, a throwaway
 * identity joins the share's rendezvous mesh, finds A's share server, fetches the manifest and
 * reads k shards per stripe through A (which relays them from the holders), checks, decodes and
 * decrypts. Times are the guest page's own `performance.now()` (from the start of navigation)
 * at the first decrypted bytes and at the whole file; the bytes are checked against the SHA-256
 * of what was put. MB = 10^6 bytes.
 */
export interface ShareLinkRun {
  firstMs: number;
  lastMs: number;
  MBps: number;
}

export interface ShareLinkResult {
  name: 'share-link';
  fileBytes: number;
  code: string;
  first: Stat;
  last: Stat;
  MBps: Stat;
  details: ShareLinkRun[];
}

const MiB = 1024 * 1024;

export async function runShareLinkBench(
  h: Harness,
  runs: number,
  fileMiB: number,
  log: (line: string) => void,
): Promise<ShareLinkResult> {
  const a = await h.openTab(h.url);
  const invite = await h.invite();
  for (let i = 0; i < 3; i++) await h.openTab(invite);
  await a.page.waitForFunction(() => window.wos.nodes().length === 4, undefined, {
    timeout: 20_000,
  });
  const bytes = fileMiB * MiB;
  const put = await putTimed(a.page, bytes, 4 * MiB, 'shared.bin');
  const code = `(${put.k}, ${put.n})`;
  const link = await a.page.evaluate(
    (id) => window.wos.files.share(id, { maxDownloads: 1000 }),
    put.id,
  );
  const details: ShareLinkRun[] = [];
  for (let r = 0; r < runs; r++) {
    const { context, page } = await h.blankPage();
    try {
      await page.goto(link);
      await page.waitForFunction(
        () => window.__wosShare?.state === 'done' || window.__wosShare?.state === 'failed',
        undefined,
        { timeout: 120_000 },
      );
      const out = await page.evaluate(async () => {
        const s = window.__wosShare!;
        if (!s.blob) throw new Error(`share read failed: ${JSON.stringify(s.error)}`);
        const d = await crypto.subtle.digest('SHA-256', await s.blob.arrayBuffer());
        const sha256 = Array.from(new Uint8Array(d), (x) => x.toString(16).padStart(2, '0'));
        return { size: s.blob.size, sha256: sha256.join(''), times: s.times };
      });
      if (out.size !== bytes || out.sha256 !== put.sha256) {
        throw new Error('the guest read different bytes than were put');
      }
      const run = {
        firstMs: out.times.first!,
        lastMs: out.times.done!,
        MBps: bytes / 1e6 / ((out.times.done! - out.times.first!) / 1000),
      };
      details.push(run);
      log(
        `share-link ${r + 1}/${runs}: ${code} first byte ${run.firstMs.toFixed(0)} ms, ` +
          `last byte ${run.lastMs.toFixed(0)} ms (${run.MBps.toFixed(1)} MB/s after the first)`,
      );
    } finally {
      await context.close();
    }
  }
  return {
    name: 'share-link',
    fileBytes: bytes,
    code,
    first: stat(
      'ms',
      details.map((d) => d.firstMs),
      0,
    ),
    last: stat(
      'ms',
      details.map((d) => d.lastMs),
      0,
    ),
    MBps: stat(
      'MB/s',
      details.map((d) => d.MBps),
      1,
    ),
    details,
  };
}
