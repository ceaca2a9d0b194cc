import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';

/** Machine facts recorded with every result, and the readable summary table. */
export interface MachineInfo {
  cores: number;
  cpu: string;
  memoryGiB: number;
  os: string;
  node: string;
  chromium: string;
  commit: string;
  /** The build under test: when dist/ was built and its content-hashed entry script. */
  dist: { builtAt: string; entry: string };
  /** 1, 5 and 15 min load averages when the run started: other work on the machine. */
  loadAvg: number[];
}

export interface SummaryRow {
  bench: string;
  metric: string;
  median: number;
  unit: string;
  runs: number[];
  goal?: string;
  met?: boolean;
}

export function machineInfo(distDir: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    chromium: run('/usr/bin/chromium', ['--version']).match(/Chromium [\d.]+/)?.[0] ?? 'unknown',
    commit: run('git', ['rev-parse', '--short', 'HEAD']).trim() || 'unknown',
    dist: distInfo(distDir),
    loadAvg: loadAvg(),
  };
}

function distInfo(dir: string): MachineInfo['dist'] {
  try {
    const entry = readdirSync(resolve(dir, 'assets')).find((f) => /^index-.*\.js$/.test(f));
    return {
      builtAt: statSync(resolve(dir, 'index.html')).mtime.toISOString(),
      entry: entry ?? 'unknown',
    };
  } catch {
    return { builtAt: 'unknown', entry: 'unknown' };
  }
}

export function loadAvg(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

const fmt = (x: number): string =>
  Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);

export function table(rows: SummaryRow[]): string {
  const head = ['bench', 'metric', 'median', 'runs', 'goal', 'met'];
  const body = rows.map((r) => [
    r.bench,
    r.metric,
    `${fmt(r.median)} ${r.unit}`,
    r.runs.map(fmt).join(' '),
    r.goal ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, c) =>
    Math.max(h.length, ...body.map((row) => (row[c] ?? '').length)),
  );
  const line = (row: string[]): string =>
    row
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
