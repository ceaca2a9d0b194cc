import { TAG_BYTES } from '../../src/core/storage/cipher.ts';
import { handStripeToCoder, sealPieces } from '../../src/core/storage/seal-stripe.ts';
import { splitStripe } from '../../src/core/storage/stripe.ts';
import type { FileKeys } from '../../src/core/storage/keys.ts';
import type { StripeCoder } from '../../src/core/storage/storage-context.ts';

/**
 * The write path's CPU stages on a file in memory, with no network and no platform API but
 * WebCrypto: shared by the Node bench (bench/storage-pipeline.ts) and the tab bench
 * (bench/storage-pipeline-tab.ts), which bundles it into the page. Stripes are cut as the
 * uploader cuts them (`splitStripe`: k pieces of shardBytes − 16 plaintext bytes, the last
 * stripe zero padded), so every sealed chunk, hence every shard, is `shardBytes` long.
 */
export class StripedFile {
  readonly #file: Uint8Array;
  readonly #stripePlain: number;
  readonly #stripes: number;

  constructor(
    readonly subtle: SubtleCrypto,
    readonly keys: FileKeys,
    file: Uint8Array,
    readonly k: number,
    readonly shardBytes: number,
  ) {
    this.#file = file;
    this.#stripePlain = k * (shardBytes - TAG_BYTES);
    this.#stripes = Math.max(1, Math.ceil(file.length / this.#stripePlain));
  }

  /** Stripe s's k plaintext pieces (fresh copies, as the uploader's `splitStripe` makes). */
  pieces(s: number): Uint8Array[] {
    const from = s * this.#stripePlain;
    return splitStripe(this.#file.subarray(from, from + this.#stripePlain), this.k);
  }

  #last(s: number): boolean {
    return s === this.#stripes - 1;
  }

  /** The k data shards of stripe s: its sealed pieces, sealed on this thread. */
  sealStripe(s: number): Promise<Uint8Array[]> {
    return sealPieces(this.subtle, this.keys, s * this.k, this.pieces(s), this.#last(s));
  }

  async sealAll(): Promise<Uint8Array[][]> {
    const out: Uint8Array[][] = [];
    for (let s = 0; s < this.#stripes; s++) out.push(await this.sealStripe(s));
    return out;
  }

  /**
   * The uploader's write path (`handStripeToCoder`): each stripe is handed to the coder (which
   * seals it too where it can, in its workers), and the next stripe is cut meanwhile, with at
   * most `atCoder` stripes at the coder; with `digests`, every shard is hashed as well, as the
   * uploader has it done. Returns the shard count.
   */
  async pipeline(
    coder: StripeCoder,
    n: number,
    { atCoder = 2, digests = false }: { atCoder?: number; digests?: boolean } = {},
  ): Promise<number> {
    const coding: Promise<number>[] = [];
    let shards = 0;
    for (let s = 0; s < this.#stripes; s++) {
      const { coded } = await handStripeToCoder(
        coder,
        this.subtle,
        this.keys,
        s * this.k,
        this.pieces(s),
        this.#last(s),
        n - this.k,
        digests,
      );
      coding.push(coded.then((c) => c.shards.length));
      if (coding.length >= atCoder) shards += await coding.shift()!;
    }
    for (const c of coding) shards += await c;
    return shards;
  }
}
