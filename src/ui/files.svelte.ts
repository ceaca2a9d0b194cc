import type { FileInfo } from '../core/storage/storage-client.ts';
import type { HolderView } from '../core/storage/storage-service.ts';
import type { BrowserApp } from '../platform/browser-app.ts';

/**
 * The Files view's state: the list (with where each file lives and whether it is cached here),
 * uploads and downloads in progress (with progress and cancel), the storage each node donates and uses, and
 * this tab's local cache.
 */
/** An upload or a download in progress (or failed, with its error). */
export interface Transfer {
  kind: 'upload' | 'download';
  name: string;
  size: number;
  done: number;
  controller: AbortController;
  error?: string;
}

export class FilesState {
  files = $state<FileInfo[]>([]);
  health = $state<Record<string, string>>({});
  transfers = $state<Transfer[]>([]);
  error = $state<string | undefined>(undefined);
  busy = $state(false);
  /** Every live storage node: donated quota and bytes used, this node first. */
  holders = $state<HolderView[]>([]);
  cache = $state<{ used: number; budget: number } | undefined>(undefined);

  constructor(readonly app?: BrowserApp) {}

  async refresh(): Promise<void> {
    this.busy = true;
    try {
      void this.#refreshNodes();
      this.files = await window.wos.files.list();
      for (const f of this.files) {
        void window.wos.files.health(f.id).then(
          (h) => (this.health = { ...this.health, [f.id]: h.state }),
          () => (this.health = { ...this.health, [f.id]: 'unknown' }),
        );
      }
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.busy = false;
    }
  }

  async #refreshNodes(): Promise<void> {
    if (!this.app) return;
    try {
      const rt = await this.app.started;
      this.holders = await rt.storage.holders();
      this.cache = { used: await rt.fileCache.usage(), budget: rt.fileCache.budgetBytes };
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
  }

  /** Changes the local cache's budget (saved in this profile's settings). */
  async setCacheMiB(mib: number): Promise<void> {
    if (!this.app) return;
    await this.app.donate({ cacheBytes: Math.max(0, mib) * 1024 * 1024 });
    await this.#refreshNodes();
  }

  async upload(file: File): Promise<void> {
    const t = this.#start('upload', file.name, file.size);
    try {
      await window.wos.files.put(file.name, file, {
        signal: t.signal,
        // `sent` moves piece by piece; `bytes` only once a whole stripe is stored.
        onProgress: (p) => t.update({ done: p.sent }),
      });
      t.finish();
      await this.refresh();
    } catch (e) {
      t.fail(e);
    }
  }

  /** Streams the file in (verified and decrypted stripe by stripe) and saves it. */
  async download(f: FileInfo): Promise<void> {
    const t = this.#start('download', f.name, f.size);
    try {
      const stream = await window.wos.files.stream(f.id, { signal: t.signal });
      const parts: BlobPart[] = [];
      const reader = stream.getReader();
      let done = 0;
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        parts.push(r.value as Uint8Array<ArrayBuffer>);
        done += r.value.length;
        t.update({ done });
      }
      const url = URL.createObjectURL(new Blob(parts, { type: f.type }));
      const a = document.createElement('a');
      a.href = url;
      a.download = f.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      t.finish();
      // The read filled the local cache: show it.
      void window.wos.files.list().then(
        (l) => (this.files = l),
        () => {},
      );
    } catch (e) {
      t.fail(e);
    }
  }

  /** Closes a failed transfer's row. */
  dismiss(t: Transfer): void {
    this.transfers = this.transfers.filter((x) => x !== t && x.controller !== t.controller);
  }

  #start(kind: Transfer['kind'], name: string, size: number) {
    const controller = new AbortController();
    this.transfers = [...this.transfers, { kind, name, size, done: 0, controller }];
    const update = (patch: Partial<Transfer>): void => {
      this.transfers = this.transfers.map((x) =>
        x.controller === controller ? { ...x, ...patch } : x,
      );
    };
    const finish = (): void => {
      this.transfers = this.transfers.filter((x) => x.controller !== controller);
    };
    // Cancelled by the user: the row just goes; anything else stays with its error.
    const fail = (e: unknown): void => {
      if (controller.signal.aborted) finish();
      else update({ error: e instanceof Error ? e.message : String(e) });
    };
    return { signal: controller.signal, update, finish, fail };
  }

  async remove(f: FileInfo): Promise<void> {
    try {
      await window.wos.files.delete(f.id);
      await this.refresh();
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
  }
}
