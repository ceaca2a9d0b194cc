import type { Page } from 'playwright-core';

/**
 * Storage steps run inside a WOS tab through the app's own API (`window.wos.files`, and the
 * runtime `window.__wosApp.started` for where shards went and for repair), timed in the page
 * with `performance.now()`. Bytes are random (incompressible), and every read is checked
 * against the SHA-256 of what was put.
 */
export interface PutTimed {
  id: string;
  ms: number;
  fileBytes: number;
  k: number;
  n: number;
  stripes: number;
  /** Bytes of shards placed on other nodes' stores (what crossed data channels). */
  shardBytesMoved: number;
  /** Shards that stayed on the uploader's own store. */
  localShards: number;
  /** Distinct stores holding the file's shards. */
  stores: number;
  sha256: string;
}

export interface GetTimed {
  ms: number;
  fileBytes: number;
  sha256: string;
}

/** Puts `bytes` random bytes as a new file from `page`; times `wos.files.put` alone. */
export function putTimed(
  page: Page,
  bytes: number,
  stripeBytes: number,
  name: string,
): Promise<PutTimed> {
  return page.evaluate(
    async ({ bytes, stripeBytes, name }) => {
      const data = new Uint8Array(bytes);
      for (let o = 0; o < bytes; o += 65_536) {
        crypto.getRandomValues(data.subarray(o, Math.min(bytes, o + 65_536)));
      }
      const hex = (b: ArrayBuffer): string =>
        Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
      const sha256 = hex(await crypto.subtle.digest('SHA-256', data));
      const t0 = performance.now();
      const ref = await window.wos.files.put(name, data);
      const ms = performance.now() - t0;
      const rt = await window.__wosApp.started;
      const info = await rt.storage.files.info(ref.id);
      const where = await rt.storage.files.locate(ref.id);
      const self = rt.storage.directory.selfStore;
      if (info.stripes !== Math.ceil(bytes / stripeBytes)) {
        throw new Error(`expected ${Math.ceil(bytes / stripeBytes)} stripes, got ${info.stripes}`);
      }
      let shardBytesMoved = 0;
      let localShards = 0;
      where.forEach((stores, s) => {
        const len = Math.min(stripeBytes, bytes - s * stripeBytes);
        const shard = Math.max(1, Math.ceil(len / info.k)) + 16; // + the AES-GCM tag
        for (const store of stores) {
          if (store === self) localShards++;
          else shardBytesMoved += shard;
        }
      });
      return {
        id: ref.id,
        ms,
        fileBytes: bytes,
        k: info.k,
        n: info.n,
        stripes: info.stripes,
        shardBytesMoved,
        localShards,
        stores: new Set(where.flat()).size,
        sha256,
      };
    },
    { bytes, stripeBytes, name },
  );
}

/** Reads file `id` to the end through `wos.files.stream`; times the whole read. */
export function getTimed(page: Page, id: string): Promise<GetTimed> {
  return page.evaluate(async (id) => {
    const chunks: Uint8Array[] = [];
    const t0 = performance.now();
    const reader = (await window.wos.files.stream(id)).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    const ms = performance.now() - t0;
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
    const sha256 = Array.from(digest, (x) => x.toString(16).padStart(2, '0')).join('');
    return { ms, fileBytes: all.length, sha256 };
  }, id);
}

export async function deleteFile(page: Page, id: string): Promise<void> {
  await page.evaluate((id) => window.wos.files.delete(id), id);
}

/** The store id of a tab's own shard store. */
export function storeOf(page: Page): Promise<string> {
  return page.evaluate(async () => (await window.__wosApp.started).storage.directory.selfStore);
}

/** Sets how much a tab keeps in its local file cache (0: reads always go to the mesh). */
export async function setCacheBytes(page: Page, cacheBytes: number): Promise<void> {
  await page.evaluate((cacheBytes) => window.__wosApp.donate({ cacheBytes }), cacheBytes);
}
