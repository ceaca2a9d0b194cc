import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of this process's descendants (the bench's Chromium: browser, renderers, GPU and
 * utility processes), grouped by Chromium process type, and of the whole machine, from /proc.
 * Linux only; on other systems the snapshots are empty.
 */
export interface CpuSnapshot {
  at: number;
  /** Per pid: CPU seconds (user + system) and the process's kind. */
  procs: Map<number, { cpuS: number; kind: string }>;
  /** Machine-wide busy and total CPU seconds (all cores) from /proc/stat. */
  machineBusyS: number;
  machineTotalS: number;
}

export interface CpuUse {
  wallS: number;
  /** CPU seconds used by the bench's descendants, by kind, in the interval. */
  byKind: Record<string, number>;
  ownS: number;
  /** Cores' worth of CPU the whole machine was busy with (other sessions included). */
  machineBusyCores: number;
  cores: number;
}

const HZ = 100;

function stat(pid: number): { ppid: number; cpuS: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpuS: (Number(f[11]) + Number(f[12])) / HZ };
  } catch {
    return undefined;
  }
}

function kindOf(pid: number): string {
  try {
    // Chromium rewrites its title into one space-separated string.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
    const type = argv.find((a) => a.startsWith('--type='))?.slice(7);
    if (type === 'utility') {
      const sub = argv.find((a) => a.startsWith('--utility-sub-type='))?.slice(19) ?? '';
      return `utility ${sub.replace(/^.*\./, '')}`;
    }
    if (type) return type;
    return /chrom/.test(argv[0] ?? '') ? 'browser' : (argv[0]?.split('/').pop() ?? '?');
  } catch {
    return '?';
  }
}

export function cpuSnapshot(root = process.pid): CpuSnapshot {
  const parent = new Map<number, { ppid: number; cpuS: number }>();
  let pids: number[];
  try {
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    pids = [];
  }
  for (const pid of pids) {
    const s = stat(pid);
    if (s) parent.set(pid, s);
  }
  const procs: CpuSnapshot['procs'] = new Map();
  const isDescendant = (pid: number): boolean => {
    for (let p = parent.get(pid)?.ppid, hops = 0; p && hops < 64; p = parent.get(p)?.ppid, hops++)
      if (p === root) return true;
    return false;
  };
  for (const [pid, s] of parent)
    if (isDescendant(pid)) procs.set(pid, { cpuS: s.cpuS, kind: kindOf(pid) });
  let machineBusyS = 0;
  let machineTotalS = 0;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    machineTotalS = v.reduce((a, b) => a + b, 0) / HZ;
    machineBusyS = machineTotalS - ((v[3] ?? 0) + (v[4] ?? 0)) / HZ; // minus idle, iowait
  } catch {
    // not Linux
  }
  return { at: performance.now(), procs, machineBusyS, machineTotalS };
}

export function cpuUse(a: CpuSnapshot, b: CpuSnapshot, cores: number): CpuUse {
  const byKind: Record<string, number> = {};
  for (const [pid, p] of b.procs) {
    const before = a.procs.get(pid)?.cpuS ?? 0;
    byKind[p.kind] = (byKind[p.kind] ?? 0) + (p.cpuS - before);
  }
  const round = (x: number): number => Math.round(x * 100) / 100;
  const wallS = (b.at - a.at) / 1000;
  const totalS = b.machineTotalS - a.machineTotalS;
  return {
    wallS: round(wallS),
    byKind: Object.fromEntries(
      Object.entries(byKind)
        .filter(([, s]) => s > 0)
        .sort((x, y) => y[1] - x[1])
        .map(([k, s]) => [k, round(s)]),
    ),
    ownS: round(Object.values(byKind).reduce((x, y) => x + y, 0)),
    machineBusyCores: totalS > 0 ? round(((b.machineBusyS - a.machineBusyS) / totalS) * cores) : 0,
    cores,
  };
}
