import type { Wos } from '../../src/sdk/wos.ts';

/**
 * What every benchmark tab records about itself, installed before the app's scripts run:
 * when `wos.ready` resolved, and when each peer appeared in or vanished from `wos.nodes()`
 * and each coordinator change, all as epoch ms (`Date.now()`), so times from different tabs,
 * the agent and the bench process compare directly.
 */
export interface PageProbe {
  readyAt: number | undefined;
  readyError: string | undefined;
  /** Node id → when it last appeared in this tab's `wos.nodes()`. */
  seen: Record<string, number>;
  /** Node id → when it last vanished from this tab's `wos.nodes()`. */
  gone: Record<string, number>;
  /** Every coordinator change this tab saw: `[when, coordinator]`. */
  coord: [number, string | undefined][];
}

declare global {
  interface Window {
    __bench: PageProbe;
  }
}

/** Runs in the page before its scripts: hooks `window.wos` as soon as the app assigns it. */
function installProbe(): void {
  const probe: PageProbe = {
    readyAt: undefined,
    readyError: undefined,
    seen: {},
    gone: {},
    coord: [],
  };
  window.__bench = probe;
  const present = new Set<string>();
  let wos: Wos | undefined;
  Object.defineProperty(window, 'wos', {
    configurable: true,
    enumerable: true,
    get: () => wos,
    set: (w: Wos) => {
      wos = w;
      const update = (list: ReturnType<Wos['nodes']>): void => {
        const now = Date.now();
        const ids = new Set(list.filter((n) => !n.self).map((n) => n.id));
        for (const id of ids) {
          if (present.has(id)) continue;
          present.add(id);
          probe.seen[id] = now;
        }
        for (const id of [...present]) {
          if (ids.has(id)) continue;
          present.delete(id);
          probe.gone[id] = now;
        }
      };
      // `wos.on` attaches only once the node exists, so read the view at ready as well.
      w.ready.then(
        () => {
          probe.readyAt = Date.now();
          update(w.nodes());
        },
        (e: unknown) => (probe.readyError = String(e)),
      );
      w.on('nodes', update);
      w.on('coordinator', (c) => probe.coord.push([Date.now(), c]));
    },
  });
}

/**
 * The init script for every benchmark context. tsx compiles with esbuild's `keepNames`, which
 * wraps named functions in `__name(…)`; functions Playwright serialises into the page need it.
 */
export const INIT_SCRIPT = `globalThis.__name ??= (f) => f;\n(${installProbe.toString()})();`;
