import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { runInLoopbackNamespace } from '../test/support/netns.ts';

/**
 * `npm run bench [-- --runs N --only NAME …]`: builds dist/ (or `$WOS_DIST`) if it is missing (or
 * with `--build`), then runs bench/main.ts in a fresh network namespace with only `lo` up.
 */
const ROOT = resolve(import.meta.dirname, '..');
const DIST = resolve(ROOT, process.env.WOS_DIST ?? 'dist');
const args = process.argv.slice(2);
const build = args.includes('--build');
if (build || !existsSync(resolve(DIST, 'index.html'))) {
  process.stderr.write(
    `bench: ${build ? 'building' : 'dist/ is missing; building it'} (npm run build)\n`,
  );
  execFileSync('npx', ['vite', 'build', '--outDir', DIST, '--emptyOutDir'], {
    cwd: ROOT,
    stdio: ['ignore', 2, 2],
  });
}
const code = await runInLoopbackNamespace([
  process.execPath,
  '--import',
  'tsx',
  resolve(ROOT, 'bench/main.ts'),
  ...args.filter((a) => a !== '--build'),
]);
process.exit(code);
