import { TAG_BYTES } from '../../src/core/storage/cipher.ts';
import { handStripeToCoder, sealPieces } from '../../src/core/storage/seal-stripe.ts';
import { splitStripe } from '../../src/core/storage/stripe.ts';
import type { FileKeys } from '../../src/core/storage/keys.ts';
import type { StripeCoder } from '../../src/core/storage/storage-context.ts';

/**
 * The write path's CPU stages on a file in memory, with no network and no platform API but
 * WebCrypto: shared by the Node bench (bench/storage-pipeline.ts) and the tab bench
 * (bench/storage-pipeline-tab.ts), which bundles it into the page. Stripes hold k pieces of
 * shardBytes − 16 plaintext bytes and are cut as the uploader cuts them (`splitStripe`), so every
 * sealed chunk of a whole stripe, hence every shard, is `shardBytes` long.
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

  /** Stripe s's plaintext, a view into the file. */
  #stripe(s: number): Uint8Array {
    const from = s * this.#stripePlain;
    return this.#file.subarray(from, from + this.#stripePlain);
  }

  /**
   * Every stripe as a fresh buffer of its own, as the uploader's source yields them (a Blob's
   * `arrayBuffer()` per stripe): what the pipeline hands over, made before a clock starts.
   */
  stripes(): Uint8Array[] {
    return Array.from({ length: this.#stripes }, (_, s) => new Uint8Array(this.#stripe(s)));
  }

  #last(s: number): boolean {
    return s === this.#stripes - 1;
  }

  /** The k data shards of stripe s, sealed on this thread from views (the cipher's work alone). */
  sealStripe(s: number): Promise<Uint8Array[]> {
    const pieces = splitStripe(this.#stripe(s), this.k);
    return sealPieces(this.subtle, this.keys, s * this.k, pieces, this.#last(s));
  }

  async sealAll(): Promise<Uint8Array[][]> {
    const out: Uint8Array[][] = [];
    for (let s = 0; s < this.#stripes; s++) out.push(await this.sealStripe(s));
    return out;
  }

  /**
   * The uploader's write path (`handStripeToCoder`): each stripe is handed to the coder (which
   * cuts and seals it too where it can, in its workers), with at most `atCoder` stripes at the
   * coder; with `digests`, every shard is hashed as well, as the uploader has it done. `stripes`
   * (from `stripes()`, taken by the call) default to copies made here. Returns the shard count.
   */
  async pipeline(
    coder: StripeCoder,
    n: number,
    {
      atCoder = 2,
      digests = false,
      stripes = this.stripes(),
    }: { atCoder?: number; digests?: boolean; stripes?: Uint8Array[] } = {},
  ): Promise<number> {
    const coding: Promise<number>[] = [];
    let shards = 0;
    for (let s = 0; s < this.#stripes; s++) {
      const { coded } = await handStripeToCoder(
        coder,
        this.subtle,
        this.keys,
        s * this.k,
        stripes[s]!,
        this.k,
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
