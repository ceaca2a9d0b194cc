/**
 * Spike helper: make sure the current process runs in a network namespace whose only
 * link is `lo`. Outside one, re-execute the same command line under
 * `unshare -n sh -c 'ip link set lo up && exec ...'` (root needed) and exit with
 * its status; this function then never returns in the parent.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export function linkNames(): string[] {
  const out = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (l.split(':')[1] ?? '').trim().replace(/@.*$/, ''));
}

export function ensureLoopbackOnlyNetns(): void {
  const links = linkNames();
  if (links.length === 1 && links[0] === 'lo') {
    console.log(`netns ok: ip -o link -> ${links.join(', ')}`);
    return;
  }
  if (process.env['SPIKE_IN_NETNS'] === '1') {
    console.error(`FAIL: expected only lo in the netns, got ${links.join(', ')}`);
    process.exit(1);
  }
  const r = spawnSync(
    'unshare',
    [
      '-n',
      'sh',
      '-c',
      'ip link set lo up && exec "$@"',
      'sh',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, SPIKE_IN_NETNS: '1' } },
  );
  if (r.error) console.error('could not run unshare (root needed):', r.error.message);
  process.exit(r.status ?? 1);
}
