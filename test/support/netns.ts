import { execFileSync, spawn } from 'node:child_process';

/**
 * The network rule: browser, WebRTC and benchmark runs send packets to loopback only. They run
 * inside a fresh network namespace holding nothing but `lo`, checked from inside.
 */
export function interfaces(): string[] {
  const out = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]!);
}

/** Throws unless the only interface is an up `lo`. */
export function assertLoopbackOnly(): void {
  const ifs = interfaces();
  if (ifs.length !== 1 || ifs[0] !== 'lo') {
    throw new Error(
      `network rule violated: interfaces ${JSON.stringify(ifs)} are visible; ` +
        'tests must run in a namespace with only lo (npm run test:e2e does this)',
    );
  }
  const lo = execFileSync('ip', ['-o', 'link', 'show', 'lo'], { encoding: 'utf8' });
  if (!/[<,]UP[,>]/.test(lo)) throw new Error('loopback is down inside the test namespace');
}

/**
 * Re-runs `argv` inside a new network namespace with only `lo` up, unless already inside one
 * (WOS_NETNS=1). Resolves with the child's exit code.
 */
export function runInLoopbackNamespace(argv: string[]): Promise<number> {
  const isRoot = process.getuid?.() === 0;
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const args = [isRoot ? '-n' : '-rn', 'sh', '-c', `ip link set lo up && exec ${quoted}`];
  const child = spawn('unshare', args, {
    stdio: 'inherit',
    env: { ...process.env, WOS_NETNS: '1' },
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0)));
  });
}
