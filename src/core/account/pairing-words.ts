import { concatBytes, utf8 } from '../bytes.ts';
import { ArgumentError } from '../errors.ts';
import { sha256 } from '../identity.ts';

/**
 * The short authentication string of pairing: both devices show the same words exactly when
 * they hold the same two ephemeral ECDH public keys, i.e. when nobody sits in between.
 *
 *   h     = SHA-256("wos/v1/pairing-words|" ‖ lo ‖ hi)   lo, hi = the two raw public keys in
 *                                                         lexicographic byte order
 *   words = PAIRING_WORDS[h[0]], …, PAIRING_WORDS[h[count-1]]   (count 4..8, default 5)
 *
 * Five words are 40 bits. The pairing protocol must make each side commit to its key before
 * seeing the other's (the new device sends SHA-256 of its key first and reveals the key only
 * after receiving the enrolled device's key), so an attacker in the middle gets one guess, not
 * a search: success probability 2^-40.
 */
export const PAIRING_LABEL = 'wos/v1/pairing-words|';

/** 256 short, common, distinct English words (distinct in their first 4 letters). */
export const PAIRING_WORDS: readonly string[] = (
  'acid acorn actor agent alarm album alert alpha amber angle ankle apple arena arrow ' +
  'atlas audio bacon badge bagel baker bamboo banjo barn basil beach beard bench berry ' +
  'bike birch bison blade blaze bloom board boat bonus book boost bread brick broom brush ' +
  'bucket buddy bugle cabin cable cactus camel candy canoe canvas cargo carpet castle ' +
  'cedar chalk charm cherry chess chorus cider cinema circus city clay cliff clock cloud ' +
  'clover coach cobra cocoa comet coral cotton couch cowboy crab crane crayon cream crown ' +
  'cube curve daisy dance delta denim desk diary dinner dock donkey dragon drum duck dune ' +
  'eagle earth easel echo elbow ember engine fable falcon farm feast fence ferry fiber ' +
  'fiddle field flame flute focus forest fossil fox frost fruit galaxy garden garlic gecko ' +
  'giant ginger glass globe glove goat gold grape gravy guitar hammer harbor harp hazel ' +
  'heart helmet hero honey hotel igloo iris island ivory jacket jaguar jelly jewel jockey ' +
  'juice jungle kayak kettle kiwi koala ladder lake lamp lemon lens lily lion llama lotus ' +
  'magnet mango maple marble melon meteor mint mirror moose motor mouse muffin nectar ' +
  'needle nest noodle ocean olive onion opera orange orbit otter owl oyster paddle panda ' +
  'paper parrot peach pearl pepper piano pilot pizza planet plum pony potato prism puppy ' +
  'quartz quilt rabbit radar radio raven river robin rocket ruby saddle salad salmon satin ' +
  'scarf shadow shark shell silver sketch sofa spice spider spoon squid stone sugar summit ' +
  'sunset swan table tango tiger toast tomato topaz tulip tuna turtle velvet violin walnut ' +
  'whale window wizard'
).split(' ');

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** The words for a pair of public keys; the order of the two keys does not matter. */
export async function pairingWords(
  subtle: SubtleCrypto,
  keyA: Uint8Array,
  keyB: Uint8Array,
  count = 5,
): Promise<string[]> {
  if (!Number.isInteger(count) || count < 4 || count > 8) {
    throw new ArgumentError('pairing shows 4 to 8 words');
  }
  if (keyA.length === 0 || keyB.length === 0) throw new ArgumentError('pairing keys are empty');
  if (compare(keyA, keyB) === 0) {
    throw new ArgumentError('both pairing keys are the same key: a device is talking to itself');
  }
  const [lo, hi] = compare(keyA, keyB) < 0 ? [keyA, keyB] : [keyB, keyA];
  const h = await sha256(subtle, concatBytes(utf8(PAIRING_LABEL), lo, hi));
  return [...h.subarray(0, count)].map((b) => PAIRING_WORDS[b]!);
}

/** The commitment a side sends before revealing its key: SHA-256("wos/v1/pairing-commit|" ‖ key). */
export function pairingCommitment(subtle: SubtleCrypto, key: Uint8Array): Promise<Uint8Array> {
  return sha256(subtle, concatBytes(utf8('wos/v1/pairing-commit|'), key));
}
