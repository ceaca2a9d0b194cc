import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DIST } from '../test/e2e/fixtures.ts';
import { busPings, busStream } from './lib/bus-page.ts';
import { profilePages, selfTimes, sourceMapper, type CpuProfile } from './lib/cpu-profile.ts';
import type { Harness } from './lib/harness.ts';
import { openPair } from './lib/pair.ts';
import { rawPings, rawStream } from './lib/raw-channel.ts';
import { median } from './lib/stats.ts';

/**
 * Diagnostic (not in the default set): where the bus spends its time. CPU-profiles both tabs
 * (CDP, 50 µs sampling) during `pings` bus pings, then `pings` raw pings, then a 16 MiB bus
 * stream and a 16 MiB raw stream; reports busy (non-idle) CPU per message on each side and the
 * top functions and source files by self time. Profiles go to bench/results/*.cpuprofile.
 */
export interface ProfilePhase {
  phase: string;
  messages: number;
  wallMs: number;
  /** Non-idle sampled CPU of sender + receiver, µs per message (ping) or per MiB (stream). */
  busyPerUnitUs: number;
  unit: 'ping' | 'MiB';
  topFunctions: { fn: string; where: string; ms: number }[];
  /** Busy µs per unit by kind of work. */
  byCategory: Record<string, number>;
  byFile: Record<string, number>;
}

export interface ProfileResult {
  name: 'bus-profile';
  phases: ProfilePhase[];
}

const IDLE = new Set(['(idle)', '(program)']);

const NATIVE: Record<string, string> = {
  send: 'RTCDataChannel.send (native)',
  setTimeout: 'timers (native)',
  clearTimeout: 'timers (native)',
  encode: 'wire: encode/decode',
  decode: 'wire: encode/decode',
  stringify: 'wire: encode/decode',
  parse: 'wire: encode/decode',
  '(garbage collector)': 'garbage collection',
};

/** What kind of work a sampled function is, for the per-message breakdown. */
function category(fn: string, where: string): string {
  if (where === '(native)') return NATIVE[fn] ?? 'other native';
  if (/src\/core\/(wire|bytes)\.ts/.test(where)) return 'wire: encode/decode';
  if (where.includes('valibot')) return 'validation (valibot)';
  if (/src\/core\/(bus|link|framing)\.ts/.test(where)) return 'bus, link, framing';
  if (where.includes('peerjs')) return 'PeerJS (channel events)';
  if (where.includes('svelte') || where.includes('src/ui')) return 'UI (Svelte)';
  if (where.includes('src/')) return 'other WOS code';
  return 'other';
}

export async function runBusProfile(
  h: Harness,
  pings: number,
  outDir: string,
  log: (line: string) => void,
): Promise<ProfileResult> {
  const { a, b } = await openPair(h);
  const pages = [a.page, b.page];
  const mapper = await sourceMapper(DIST);
  await busPings(a.page, b.id, 200);
  await rawPings(a.page, 200, 128);
  const MiB = 1024 * 1024;
  const phases: ProfilePhase[] = [];
  const run = async (
    phase: string,
    unit: ProfilePhase['unit'],
    units: number,
    work: () => Promise<unknown>,
  ): Promise<void> => {
    let wallMs = 0;
    const profiles = await profilePages(pages, async () => {
      const t0 = performance.now();
      log(`${phase}: ${JSON.stringify(summary(await work()))}`);
      wallMs = performance.now() - t0;
    });
    mkdirSync(outDir, { recursive: true });
    profiles.forEach((p, i) =>
      writeFileSync(
        resolve(outDir, `${phase}-${i ? 'receiver' : 'sender'}.cpuprofile`),
        JSON.stringify(p),
      ),
    );
    phases.push(analyse(phase, unit, units, wallMs, profiles, mapper));
  };
  await run('bus-ping', 'ping', pings, () => busPings(a.page, b.id, pings));
  await run('raw-ping', 'ping', pings, () => rawPings(a.page, pings, 128));
  await run('bus-stream', 'MiB', 16, () => busStream(a.page, b.id, 16 * MiB, 192 * 1024, 8));
  await run('raw-stream', 'MiB', 16, () => rawStream(a.page, 16 * MiB, 256 * 1024));
  for (const p of phases) {
    log(`\n${p.phase}: ${p.busyPerUnitUs.toFixed(0)} µs busy CPU per ${p.unit} (both tabs)`);
    for (const [c, us] of Object.entries(p.byCategory)) {
      log(`  ${us.toFixed(1).padStart(8)} µs  ${c}`);
    }
    for (const f of p.topFunctions.slice(0, 12)) {
      log(`  ${f.ms.toFixed(1).padStart(8)} ms  ${f.fn}  ${f.where}`);
    }
  }
  return { name: 'bus-profile', phases };
}

function summary(r: unknown): unknown {
  return Array.isArray(r) ? { n: r.length, medianMs: median(r as number[]) } : r;
}

function analyse(
  phase: string,
  unit: ProfilePhase['unit'],
  units: number,
  wallMs: number,
  profiles: CpuProfile[],
  mapper: Parameters<typeof selfTimes>[1],
): ProfilePhase {
  const all = profiles.flatMap((p) => selfTimes(p, mapper));
  const merged = new Map<string, { fn: string; where: string; ms: number }>();
  const byFile: Record<string, number> = {};
  const byCategory: Record<string, number> = {};
  for (const t of all) {
    if (!IDLE.has(t.fn)) {
      const c = category(t.fn, t.where);
      byCategory[c] = (byCategory[c] ?? 0) + (t.ms * 1000) / units;
    }
    const key = `${t.fn}@${t.where}`;
    const e = merged.get(key) ?? { ...t, ms: 0 };
    e.ms += t.ms;
    merged.set(key, e);
    const file = t.where.replace(/:\d+(:\d+)?$/, '');
    byFile[file] = (byFile[file] ?? 0) + t.ms;
  }
  const busy = [...merged.values()].filter((f) => !IDLE.has(f.fn));
  const busyMs = busy.reduce((s, f) => s + f.ms, 0);
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    phase,
    messages: units,
    wallMs: round(wallMs),
    busyPerUnitUs: round((busyMs * 1000) / units),
    unit,
    topFunctions: busy
      .sort((x, y) => y.ms - x.ms)
      .slice(0, 25)
      .map((f) => ({ ...f, ms: round(f.ms) })),
    byCategory: Object.fromEntries(
      Object.entries(byCategory)
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => [k, round(v)]),
    ),
    byFile: Object.fromEntries(
      Object.entries(byFile)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 20)
        .map(([k, v]) => [k, round(v)]),
    ),
  };
}
