import type { Wos } from '../sdk/wos.ts';

/**
 * Keeps a view current: runs `refresh` now, on every change of the node list, and every
 * `everyMs` (for what changes without a node event, e.g. "last seen"). Returns the cleanup for
 * a Svelte `$effect`.
 */
export function liveRefresh(wos: Wos, refresh: () => Promise<void>, everyMs = 2000): () => void {
  void refresh();
  const timer = setInterval(() => void refresh(), everyMs);
  const off = wos.on('nodes', () => void refresh());
  return () => {
    clearInterval(timer);
    off();
  };
}
