import type { FileInfo } from '../core/storage/storage-client.ts';
import type { HolderView } from '../core/storage/storage-service.ts';
import type { BrowserApp } from '../platform/browser-app.ts';

/**
 * The Files view's state: the list (with where each file lives and whether it is cached here),
 * uploads in progress (with cancel), downloads, the storage each node donates and uses, and
 * this tab's local cache.
 */
export interface Upload {
  name: string;
  size: number;
  done: number;
  controller: AbortController;
  error?: string;
}

export class FilesState {
  files = $state<FileInfo[]>([]);
  health = $state<Record<string, string>>({});
  uploads = $state<Upload[]>([]);
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
    const u: Upload = {
      name: file.name,
      size: file.size,
      done: 0,
      controller: new AbortController(),
    };
    this.uploads = [...this.uploads, u];
    const update = (patch: Partial<Upload>): void => {
      this.uploads = this.uploads.map((x) =>
        x.controller === u.controller ? { ...x, ...patch } : x,
      );
    };
    try {
      await window.wos.files.put(file.name, file, {
        signal: u.controller.signal,
        onProgress: (p) => update({ done: p.bytes }),
      });
      this.uploads = this.uploads.filter((x) => x.controller !== u.controller);
      await this.refresh();
    } catch (e) {
      update({ error: e instanceof Error ? e.message : String(e) });
    }
  }

  async download(f: FileInfo): Promise<void> {
    try {
      const blob = await window.wos.files.get(f.id);
      // The read filled the local cache: show it.
      void window.wos.files.list().then(
        (l) => (this.files = l),
        () => {},
      );
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = f.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
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
