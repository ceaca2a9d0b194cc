import wasmUrl from '@digitaldefiance/reed-solomon-erasure.wasm/wasm?url';
import {
  createErasureCoder,
  type ErasureCoder,
  type ErasureCoderOptions,
} from '../../core/storage/erasure.ts';

/**
 * The erasure coder in a browser page or worker. Vite emits the package's .wasm as an asset and
 * gives its URL; the module is compiled while it downloads where the server sends
 * `application/wasm`, from the whole body otherwise.
 */
export async function loadRsWasmModule(url: string = wasmUrl): Promise<WebAssembly.Module> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`could not load the erasure coder from ${url}: HTTP ${res.status}`);
  if (res.headers.get('content-type')?.startsWith('application/wasm')) {
    return WebAssembly.compileStreaming(res);
  }
  return WebAssembly.compile(await res.arrayBuffer());
}

export function createBrowserErasureCoder(opts?: ErasureCoderOptions): Promise<ErasureCoder> {
  return createErasureCoder(loadRsWasmModule(), opts);
}
