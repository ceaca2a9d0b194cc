import kernelWorkerUrl from '../../../../workers/kernel-worker.ts?worker&url';
import { SandboxUnavailableError } from './errors.ts';

/**
 * The kernel worker's script text. Vite bundles `workers/kernel-worker.ts` as its own file
 * (precached by the service worker like every other asset); the page reads it once and hands
 * the text to the sandbox iframe, which can load nothing from the app's origin itself.
 */
export async function fetchKernelWorkerSource(): Promise<string> {
  const res = await fetch(kernelWorkerUrl);
  if (!res.ok) {
    throw new SandboxUnavailableError(
      `kernel worker script ${kernelWorkerUrl}: HTTP ${res.status}`,
    );
  }
  return res.text();
}
