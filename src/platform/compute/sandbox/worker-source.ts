import { kernelWorkerMain } from '../../../../workers/kernel-worker.ts';
import { installStubs } from '../../../../workers/sandbox-stubs.ts';
import { FLUSH_MS } from './protocol.ts';
import { transferables } from './transfer.ts';

/**
 * The kernel worker's script text, assembled from the compiled functions themselves: the
 * sandbox iframe can load nothing from the app's origin, so the page hands it the text. This
 * works alike in `vite build` (minified), the dev server and any bundler, with no fetch;
 * Vite's `?worker&url` would not: in dev it serves an unbundled module whose imports the
 * sandbox cannot load. Each function is self-contained; `__name` covers esbuild's `keepNames`.
 */
export function kernelWorkerSource(): string {
  const deps = [
    `installStubs: ${installStubs.toString()}`,
    `transferables: ${transferables.toString()}`,
    // As text: Vite's dev server rewrites every dynamic `import()` it sees.
    'importModule: (url) => import(url)',
    `flushMs: ${FLUSH_MS}`,
  ];
  return `'use strict';\nvar __name = (f) => f;\n(${kernelWorkerMain.toString()})({ ${deps.join(', ')} });\n`;
}
