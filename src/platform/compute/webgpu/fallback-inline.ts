import { KernelError, KernelTimeoutError } from '../../../core/compute/errors.ts';
import type { Kernel } from '../../../core/compute/kernel.ts';
import { AbortError } from '../../../core/errors.ts';
import { KernelLoadError } from './gpu-errors.ts';
import type { FallbackRunner } from './webgpu-executor.ts';

type KernelFn = (input: unknown) => unknown;

/**
 * A `FallbackRunner` that imports the kernel's JS fallback as a module in this realm and calls
 * its default (or `run`) export. It is NOT sandboxed and cannot stop a runaway kernel (the time
 * limit only rejects the caller): use it for your own kernels and tests; kernels from other
 * accounts go to the sandboxed CPU pool instead.
 */
export function inlineFallback(): FallbackRunner {
  const modules = new Map<string, Promise<KernelFn>>();
  const load = (kernel: Kernel): Promise<KernelFn> => {
    let fn = modules.get(kernel.id);
    if (!fn) {
      fn = importFallback(kernel);
      modules.set(kernel.id, fn);
    }
    return fn;
  };
  return async (kernel, input, opts) => {
    const fn = await load(kernel);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KernelTimeoutError(opts.timeoutMs)), opts.timeoutMs);
      onAbort = () => reject(new AbortError('the fallback kernel', opts.signal?.reason));
      if (opts.signal?.aborted) onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const result = (async () => {
      try {
        return await fn(input);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        throw new KernelError(err.message, err.stack);
      }
    })();
    try {
      return await Promise.race([result, stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    }
  };
}

async function importFallback(kernel: Kernel): Promise<KernelFn> {
  const spec = kernel.spec;
  const source = spec.kind === 'wgsl' ? spec.fallback : spec.source;
  if (!source) throw new KernelLoadError(kernel.id, 'the kernel has no JS fallback');
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  try {
    const mod = (await import(/* @vite-ignore */ url)) as { default?: unknown; run?: unknown };
    const fn = typeof mod.default === 'function' ? mod.default : mod.run;
    if (typeof fn !== 'function') {
      throw new KernelLoadError(
        kernel.id,
        'the fallback module exports no default or run function',
      );
    }
    return fn as KernelFn;
  } catch (e) {
    if (e instanceof KernelLoadError) throw e;
    throw new KernelLoadError(kernel.id, `fallback: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    URL.revokeObjectURL(url);
  }
}
