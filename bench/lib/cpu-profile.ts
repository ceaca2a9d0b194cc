import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import type * as TraceMapping from '@jridgewell/trace-mapping';

/**
 * Sampled CPU profiles of pages (CDP `Profiler`), summarised by self time per function with
 * positions mapped back to the source through dist/'s source maps.
 */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  fn: string;
  where: string;
  ms: number;
}

/** Profiles `pages` while `work` runs; one profile per page. */
export async function profilePages(
  pages: Page[],
  work: () => Promise<void>,
): Promise<CpuProfile[]> {
  const sessions = await Promise.all(pages.map((p) => p.context().newCDPSession(p)));
  for (const s of sessions) {
    await s.send('Profiler.enable');
    await s.send('Profiler.setSamplingInterval', { interval: 50 });
    await s.send('Profiler.start');
  }
  await work();
  const out: CpuProfile[] = [];
  for (const s of sessions) {
    const { profile } = await s.send('Profiler.stop');
    out.push(profile as unknown as CpuProfile);
    await s.detach();
  }
  return out;
}

type Mapper = (url: string, line: number, col: number) => { where: string; name?: string };

/** Maps bundle positions to source files with dist/ source maps, when the mapper is available. */
export async function sourceMapper(distDir: string): Promise<Mapper> {
  // A dependency of svelte's tooling, not of WOS: used when present.
  let tm: typeof TraceMapping | undefined;
  try {
    tm = await import('@jridgewell/trace-mapping');
  } catch {
    tm = undefined; // fall back to bundle positions
  }
  const maps = new Map<string, TraceMapping.TraceMap>();
  return (url, line, col) => {
    const file = basename(new URL(url, 'http://x/').pathname);
    const mapFile = resolve(distDir, 'assets', `${file}.map`);
    if (tm && existsSync(mapFile)) {
      let map = maps.get(mapFile);
      if (!map) {
        map = new tm.TraceMap(readFileSync(mapFile, 'utf8'));
        maps.set(mapFile, map);
      }
      const pos = tm.originalPositionFor(map, { line: line + 1, column: col });
      if (pos.source) {
        const src = pos.source.replace(/^(\.\.\/)+/, '').replace(/^node_modules\//, '');
        return { where: `${src}:${pos.line}`, ...(pos.name ? { name: pos.name } : {}) };
      }
    }
    return { where: `${file || url || '(native)'}:${line + 1}:${col + 1}` };
  };
}

/** Self time per function (ms), busiest first; `(idle)`, `(program)` and GC kept as such. */
export function selfTimes(p: CpuProfile, map: Mapper): SelfTime[] {
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  const acc = new Map<string, SelfTime>();
  p.samples.forEach((id, i) => {
    const node = byNode.get(id);
    if (!node) return;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const m = url ? map(url, lineNumber, columnNumber) : { where: '(native)' };
    const fn = m.name ?? (functionName || '(anonymous)');
    const key = `${fn}@${m.where}`;
    const e = acc.get(key) ?? { fn, where: m.where, ms: 0 };
    e.ms += (p.timeDeltas[i + 1] ?? 0) / 1000;
    acc.set(key, e);
  });
  return [...acc.values()].sort((a, b) => b.ms - a.ms);
}
