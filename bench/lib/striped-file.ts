import { TAG_BYTES } from '../../src/core/storage/cipher.ts';
import { sealPieces } from '../../src/core/storage/seal-stripe.ts';
import type { FileKeys } from '../../src/core/storage/keys.ts';
import type { StripeCoder } from '../../src/core/storage/storage-context.ts';

/**
 * The write path's CPU stages on a file in memory, with no network and no platform API but
 * WebCrypto: shared by the Node bench (bench/storage-pipeline.ts) and the tab bench
 * (bench/storage-pipeline-tab.ts), which bundles it into the page.
 */
/** A file cut into sealed chunks of `shardBytes` (plaintext shardBytes − 16), k per stripe. */
export class StripedFile {
  readonly #chunks: Uint8Array[] = [];
  readonly #stripes: number;

  constructor(
    readonly subtle: SubtleCrypto,
    readonly keys: FileKeys,
    file: Uint8Array,
    readonly k: number,
    readonly shardBytes: number,
  ) {
    const plain = shardBytes - TAG_BYTES;
    for (let o = 0; o < file.length; o += plain) this.#chunks.push(file.subarray(o, o + plain));
    this.#stripes = Math.ceil(this.#chunks.length / k);
  }

  /** The k data shards of stripe s: its sealed chunks, the last stripe zero padded. */
  async sealStripe(s: number): Promise<Uint8Array[]> {
    const last = this.#chunks.length - 1;
    const ids = [...Array(this.k).keys()].map((i) => s * this.k + i).filter((c) => c <= last);
    // The uploader's own sealing (seal-stripe.ts), pieces as they are, k per stripe.
    const pieces = ids.map((c) => this.#chunks[c]!);
    const lastStripe = ids.at(-1) === last;
    const sealed = await sealPieces(this.subtle, this.keys, s * this.k, pieces, lastStripe);
    return Array.from({ length: this.k }, (_, i) => {
      const c = sealed[i];
      if (c?.length === this.shardBytes) return c;
      const padded = new Uint8Array(this.shardBytes);
      if (c) padded.set(c);
      return padded;
    });
  }

  async sealAll(): Promise<Uint8Array[][]> {
    const out: Uint8Array[][] = [];
    for (let s = 0; s < this.#stripes; s++) out.push(await this.sealStripe(s));
    return out;
  }

  /**
   * Seals up to `depth` stripes ahead while coding the current one; returns the shard count.
   * An in-thread coder blocks until its stripe is coded; a worker coder's stripe is handed over
   * (`encodeOwned`) and the next one is sealed meanwhile, at most 2 stripes at the coder.
   * `depth` 1 is the uploader's order (hand a stripe to the coder, then seal the next): right
   * where WebCrypto runs on the calling thread (Chromium). Where it runs on a thread pool
   * (Node), sealing further ahead keeps that pool busy.
   */
  async pipeline(coder: StripeCoder, n: number, depth: number): Promise<number> {
    const ahead: Promise<Uint8Array[]>[] = [];
    const coding: Promise<number>[] = [];
    let next = 0;
    let shards = 0;
    for (let s = 0; s < this.#stripes; s++) {
      while (next < this.#stripes && ahead.length < depth) ahead.push(this.sealStripe(next++));
      const data = await ahead.shift()!;
      const m = n - this.k;
      // To the coder first: where WebCrypto runs on the calling thread (Chromium), sealing the
      // next stripe first would hold this one back for a whole seal.
      const coded = coder.encodeOwned
        ? coder.encodeOwned(data, m)
        : Promise.resolve(coder.encode(data, m)).then((p) => [...data, ...p]);
      coding.push(coded.then((all) => all.length));
      if (next < this.#stripes) ahead.push(this.sealStripe(next++));
      if (coding.length >= 2) shards += await coding.shift()!;
    }
    for (const c of coding) shards += await c;
    return shards;
  }
}
