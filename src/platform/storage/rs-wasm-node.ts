import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import {
  createErasureCoder,
  type ErasureCoder,
  type ErasureCoderOptions,
} from '../../core/storage/erasure.ts';

/** Path of the Reed-Solomon wasm shipped by the package (its `./wasm` export). */
export function rsWasmPath(): string {
  return createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm');
}

/** The erasure coder in Node (tests, benchmarks, the headless agent): the wasm read from disk. */
export function createNodeErasureCoder(opts?: ErasureCoderOptions): Promise<ErasureCoder> {
  return createErasureCoder(readFile(rsWasmPath()), opts);
}
