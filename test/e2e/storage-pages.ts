import type { Page } from 'playwright-core';

/**
 * Page-side helpers of the storage browser tests: they read and alter a tab's IndexedDB shard
 * store directly (as a curious or faulty peer could), and make test files inside the page.
 */

export interface ScanOptions {
  /** Only databases whose name starts with this ('' for all; default: the shard stores). */
  prefix?: string;
  /** Also scan localStorage and sessionStorage values. */
  webStorage?: boolean;
}

/**
 * Scans every IndexedDB record (and optionally Web Storage value) of a page for `marker`: UTF-8
 * text, or raw bytes given as hex (`{ hex }`, also matched as hex text in strings).
 */
export async function idbContains(
  page: Page,
  marker: string | { hex: string },
  opts: ScanOptions = {},
): Promise<{ found: boolean; bytes: number }> {
  return page.evaluate(
    async ({ m, prefix, webStorage }) => {
      const hex = typeof m === 'string' ? undefined : m.hex.toLowerCase();
      const needle =
        hex === undefined
          ? new TextEncoder().encode(m as string)
          : Uint8Array.from(hex.match(/../g)!, (x) => parseInt(x, 16));
      let bytes = 0;
      let found = false;
      const scan = (b: Uint8Array): void => {
        bytes += b.length;
        outer: for (let i = 0; i + needle.length <= b.length; i++) {
          for (let j = 0; j < needle.length; j++) if (b[i + j] !== needle[j]) continue outer;
          found = true;
          return;
        }
      };
      const visit = (v: unknown): void => {
        if (v instanceof Uint8Array) scan(v);
        else if (v instanceof ArrayBuffer) scan(new Uint8Array(v));
        else if (typeof v === 'string') {
          scan(new TextEncoder().encode(v));
          if (hex !== undefined && v.toLowerCase().includes(hex)) found = true;
        } else if (v && typeof v === 'object') for (const x of Object.values(v)) visit(x);
      };
      for (const info of await indexedDB.databases()) {
        if (!info.name?.startsWith(prefix)) continue;
        const db = await new Promise<IDBDatabase>((r, j) => {
          const req = indexedDB.open(info.name!);
          req.onsuccess = () => r(req.result);
          req.onerror = () => j(req.error);
        });
        for (const store of Array.from(db.objectStoreNames)) {
          const all = await new Promise<unknown[]>((r) => {
            const req = db.transaction(store).objectStore(store).getAll();
            req.onsuccess = () => r(req.result);
          });
          all.forEach(visit);
        }
        db.close();
      }
      if (webStorage) {
        for (const st of [localStorage, sessionStorage]) {
          for (let i = 0; i < st.length; i++) visit(st.getItem(st.key(i)!));
        }
      }
      return { found, bytes };
    },
    { m: marker, prefix: opts.prefix ?? 'wos-shards', webStorage: opts.webStorage ?? false },
  );
}

/**
 * Runs `op` on the raw `shards` object store of the page's shard database for the keys of
 * `file` ("file/stripe/index"): 'read' returns each shard's SHA-256 (hex) by key; 'flip' flips
 * one byte of shard `only` (else the first) (as disk rot or a malicious holder would) and returns its key and
 * the hash it had.
 */
export async function rawShards(
  page: Page,
  file: string,
  op: 'read' | 'flip',
  only?: string,
): Promise<Record<string, string>> {
  return page.evaluate(
    async ({ file, op, only }) => {
      const out: Record<string, Uint8Array> = {};
      for (const info of await indexedDB.databases()) {
        if (!info.name?.startsWith('wos-shards')) continue;
        const db = await new Promise<IDBDatabase>((r, j) => {
          const req = indexedDB.open(info.name!);
          req.onsuccess = () => r(req.result);
          req.onerror = () => j(req.error);
        });
        const tx = db.transaction('shards', op === 'flip' ? 'readwrite' : 'readonly');
        const store = tx.objectStore('shards');
        const range = IDBKeyRange.bound(`${file}/`, `${file}/\uffff`);
        const keys = await new Promise<IDBValidKey[]>((r) => {
          const req = store.getAllKeys(range);
          req.onsuccess = () => r(req.result);
        });
        for (const key of keys.filter((k) => only === undefined || k === only)) {
          const bytes = await new Promise<Uint8Array>((r) => {
            const req = store.get(key);
            req.onsuccess = () => r(req.result as Uint8Array);
          });
          out[String(key)] = bytes;
          if (op === 'flip') {
            const bad = bytes.slice();
            const mid = bad.length >> 1;
            bad[mid] = (bad[mid] ?? 0) ^ 0x5a;
            store.put(bad, key);
            break;
          }
        }
        await new Promise<void>((r, j) => {
          tx.oncomplete = () => r();
          tx.onerror = () => j(tx.error);
        });
        db.close();
      }
      // Hashes, not bytes: returning megabytes through the protocol is slow.
      const hex = async (b: Uint8Array<ArrayBuffer>): Promise<string> =>
        Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', b)), (x) =>
          x.toString(16).padStart(2, '0'),
        ).join('');
      const hashes: Record<string, string> = {};
      for (const [k, b] of Object.entries(out)) hashes[k] = await hex(b as Uint8Array<ArrayBuffer>);
      return hashes;
    },
    { file, op, only },
  );
}

/**
 * Makes `size` random bytes in the page with `marker` written every MiB, keeps them as
 * `window.__testFile` and returns their SHA-256 (hex).
 */
export async function makeTestFile(page: Page, size: number, marker: string): Promise<string> {
  return page.evaluate(
    async ({ size, marker }) => {
      const data = new Uint8Array(size);
      for (let off = 0; off < size; off += 65536) {
        crypto.getRandomValues(data.subarray(off, Math.min(size, off + 65536)));
      }
      const m = new TextEncoder().encode(marker);
      for (let off = 1000; off + m.length < size; off += 1024 * 1024) data.set(m, off);
      (window as unknown as { __testFile: Uint8Array }).__testFile = data;
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
      return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
    },
    { size, marker },
  );
}

/** Reads a file through `wos.files.get` and returns its size and SHA-256 (hex), or the error code. */
export async function readDigest(
  page: Page,
  ref: string,
): Promise<{ size: number; digest: string } | { code: string; message: string }> {
  return page.evaluate(async (id) => {
    try {
      const bytes = new Uint8Array(await (await window.wos.files.get(id)).arrayBuffer());
      const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      const digest = Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
      return { size: bytes.length, digest };
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return { code: err.code ?? 'NONE', message: err.message ?? String(e) };
    }
  }, ref);
}
