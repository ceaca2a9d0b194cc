import { assertLoopbackOnly } from '../test/support/netns.ts';

/**
 * The suite's entry inside the network namespace. The network rule comes first: nothing is
 * imported or started until only `lo` is visible.
 */
try {
  assertLoopbackOnly();
} catch (e) {
  process.stderr.write(`bench: refusing to run: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(2);
}
const { runSuite } = await import('./suite.ts');
try {
  process.exit(await runSuite(process.argv.slice(2)));
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
