import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { build, type Rolldown } from 'vite';

const ROOT = resolve(import.meta.dirname, '../..');
const bundles = new Map<string, Promise<string>>();

/**
 * Builds the given re-exports (lines like `export { X } from '/abs/path.ts';`) as one minified
 * IIFE with Vite, like `vite build`, that assigns them to `globalThis[name]`. Cached per name.
 */
export function pageBundle(name: string, exports: readonly string[]): Promise<string> {
  let bundle = bundles.get(name);
  if (!bundle) {
    bundle = (async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wos-bundle-'));
      const entry = join(dir, 'entry.ts');
      writeFileSync(entry, exports.join('\n'));
      const out = await build({
        configFile: false,
        root: ROOT,
        logLevel: 'warn',
        build: {
          write: false,
          target: 'es2022',
          minify: true,
          lib: { entry, formats: ['iife'], name, fileName: name },
        },
      }).finally(() => rmSync(dir, { recursive: true, force: true }));
      const outputs = Array.isArray(out) ? out : [out as Rolldown.RolldownOutput];
      const main = outputs.flatMap((o) => o.output).find((f) => f.type === 'chunk');
      if (main?.type !== 'chunk') throw new Error(`the ${name} bundle has no script`);
      return main.code;
    })();
    bundles.set(name, bundle);
  }
  return bundle;
}

/** Injects a `pageBundle` into `page` (already on the app's origin). */
export async function installBundle(
  page: Page,
  name: string,
  exports: readonly string[],
): Promise<void> {
  const script = await pageBundle(name, exports);
  // tsx compiles with esbuild's `keepNames`: functions serialised into the page call `__name`.
  await page.addScriptTag({ content: `globalThis.__name ??= (f) => f;\n${script}` });
}

/** `export { names } from '<repo>/<path>';` for `pageBundle`. */
export function reexport(path: string, ...names: string[]): string {
  return `export { ${names.join(', ')} } from '${resolve(ROOT, path)}';`;
}
