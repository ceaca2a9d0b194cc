import { runInLoopbackNamespace } from '../support/netns.ts';

/**
 * `npm run test:e2e`: the browser suite inside a fresh network namespace with only `lo`; the
 * suite's global setup checks that from inside and fails otherwise.
 */
const code = await runInLoopbackNamespace([
  'npx',
  'vitest',
  'run',
  '--project',
  'e2e',
  ...process.argv.slice(2),
]);
process.exit(code);
