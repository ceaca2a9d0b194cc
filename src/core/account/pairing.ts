import * as v from 'valibot';
import { bytesEqual, concatBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes.ts';
import type { Bus } from '../bus.ts';
import { ArgumentError, InvalidMessageError, WosError } from '../errors.ts';
import { describeIssues } from '../wire.ts';
import { checkAccountSecret, type AccountSecret } from './account-secret.ts';
import { hkdfAesKey, importHkdfKey } from './kdf.ts';
import { pairingCommitment, pairingWords } from './pairing-words.ts';
import { b64Bytes, DeviceIdSchema, P256PublicSchema } from './schemas.ts';

/**
 * Pairing: an enrolled device (the host) hands the account secret to a new device (the guest)
 * over a one-time rendezvous mesh, after the user has seen the same words on both screens.
 *
 * The guest shows a pairing link (`#/pair/<rendezvous mesh key>`, as text or QR); a tab of an
 * enrolled profile opens it, and both are nodes of that mesh. Then, over the bus:
 *
 * 1. host → guest `pair.commit` {}             ← { commit: SHA-256(label ‖ guest key) }
 * 2. host → guest `pair.reveal` { key: host }  ← { key: guest, device: { id, box, name, kind } }
 *    The host checks the commitment: the guest fixed its key before it saw the host's, so a
 *    man in the middle gets one guess at the 40-bit words, not a search.
 * 3. Both show `pairingWords(host key, guest key)`; the user approves on the host only if they
 *    match (or rejects: `pair.cancel`).
 * 4. host → guest `pair.deliver` { sealed }   ← { ok: true }
 *    sealed = nonce ‖ AES-GCM(K, { secret, grants }, AAD = label ‖ host key ‖ guest key),
 *    K = HKDF(ECDH(host, guest), salt = host key ‖ guest key, "wos/v1/pairing").
 *    The grants are the epoch keys (epoch-keys.ts) the host holds, sealed to the guest's box key.
 *
 * The ephemeral ECDH keys are non-extractable and new for every pairing. Every message is
 * schema-checked; a guest pairs with the first host that commits and refuses others.
 */

export const PAIRING_INFO = 'wos/v1/pairing';
const AAD_LABEL = 'wos/v1/pairing-deliver|';

export type PairingErrorCode =
  | 'PAIRING_BUSY'
  | 'PAIRING_COMMITMENT'
  | 'PAIRING_STATE'
  | 'PAIRING_CANCELLED'
  | 'PAIRING_HOST_LEFT'
  | 'PAIRING_UNOPENABLE';

export class PairingError extends WosError {
  constructor(code: PairingErrorCode, message: string) {
    super(code, message);
  }
}

export interface PairingDevice {
  /** Device id (16 base32 characters, identity.ts). */
  id: string;
  /** The device's ECDH box public key (65 bytes), for epoch grants. */
  box: Uint8Array;
  name: string;
  kind: 'tab' | 'agent';
}

export interface PairingResult {
  secret: AccountSecret;
  /** The account's handle, if the host knows it. */
  handle: string | null;
  /** Epoch grants for this device (open with `AccountSession.acceptGrant`). */
  grants: unknown[];
}

const KeySchema = P256PublicSchema;
const RevealReplySchema = v.strictObject({
  key: KeySchema,
  device: v.strictObject({
    id: DeviceIdSchema,
    box: P256PublicSchema,
    name: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
    kind: v.picklist(['tab', 'agent']),
  }),
});
const CommitReplySchema = v.strictObject({ commit: b64Bytes(32) });
const PayloadSchema = v.strictObject({
  v: v.literal(1),
  secret: b64Bytes(32),
  handle: v.nullable(v.pipe(v.string(), v.maxLength(64))),
  grants: v.pipe(v.array(v.unknown()), v.maxLength(64)),
});

function reply<S extends v.GenericSchema>(
  schema: S,
  body: unknown,
  what: string,
): v.InferOutput<S> {
  const r = v.safeParse(schema, body);
  if (!r.success) throw new InvalidMessageError(`${what} reply: ${describeIssues(r.issues)}`);
  return r.output;
}

interface Ephemeral {
  pair: CryptoKeyPair;
  pub: Uint8Array;
}

async function ephemeral(subtle: SubtleCrypto): Promise<Ephemeral> {
  const pair = (await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, [
    'deriveBits',
  ])) as CryptoKeyPair;
  return { pair, pub: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)) };
}

async function channelKey(
  subtle: SubtleCrypto,
  mine: Ephemeral,
  theirs: Uint8Array,
  hostKey: Uint8Array,
  guestKey: Uint8Array,
): Promise<CryptoKey> {
  const peer = await subtle.importKey(
    'raw',
    theirs as BufferSource,
    { name: 'ECDH', namedCurve: 'P-256' },
    false,
    [],
  );
  const z = new Uint8Array(
    await subtle.deriveBits({ name: 'ECDH', public: peer }, mine.pair.privateKey, 256),
  );
  const base = await importHkdfKey(subtle, z);
  z.fill(0);
  return hkdfAesKey(subtle, base, PAIRING_INFO, concatBytes(hostKey, guestKey));
}

const aad = (host: Uint8Array, guest: Uint8Array): Uint8Array =>
  concatBytes(utf8(AAD_LABEL), host, guest);

/** The new device's side: answers one host, shows the words, receives the secret. */
export class PairingGuest {
  readonly #subtle: SubtleCrypto;
  readonly #device: PairingDevice;
  #eph: Promise<Ephemeral>;
  #host: string | undefined;
  #hostKey: Uint8Array | undefined;
  #settle!: { resolve(r: PairingResult): void; reject(e: Error): void };
  /** Resolves with the secret once the host delivers it; rejects if it cancels. */
  readonly result: Promise<PairingResult>;
  /** Called with the words to show once both keys are known. */
  onWords: ((words: string[], host: string) => void) | undefined;

  constructor(bus: Bus, subtle: SubtleCrypto, device: PairingDevice) {
    this.#subtle = subtle;
    this.#device = device;
    this.#eph = ephemeral(subtle);
    this.result = new Promise<PairingResult>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.result.catch(() => {});
    bus.handle('pair.commit', v.strictObject({}), async ({ from }) => {
      if (this.#host !== undefined && this.#host !== from) {
        throw new PairingError('PAIRING_BUSY', 'this device is pairing with another device');
      }
      this.#host = from;
      return { commit: toBase64Url(await pairingCommitment(subtle, (await this.#eph).pub)) };
    });
    bus.handle('pair.reveal', v.strictObject({ key: KeySchema }), async ({ from, body }) => {
      this.#check(from);
      const hostKey = fromBase64Url(body.key);
      const eph = await this.#eph;
      if (bytesEqual(hostKey, eph.pub)) {
        throw new PairingError('PAIRING_STATE', 'the host sent this device its own key');
      }
      this.#hostKey = hostKey;
      const words = await pairingWords(subtle, hostKey, eph.pub);
      this.onWords?.(words, from);
      const d = this.#device;
      return {
        key: toBase64Url(eph.pub),
        device: { id: d.id, box: toBase64Url(d.box), name: d.name, kind: d.kind },
      };
    });
    bus.handle('pair.deliver', v.strictObject({ sealed: v.string() }), async ({ from, body }) => {
      this.#check(from);
      if (!this.#hostKey) throw new PairingError('PAIRING_STATE', 'deliver came before reveal');
      const eph = await this.#eph;
      const result = await this.#open(eph, this.#hostKey, body.sealed);
      this.#settle.resolve(result);
      return { ok: true };
    });
    bus.handle('pair.cancel', v.strictObject({}), ({ from }) => {
      this.#check(from);
      this.#settle.reject(
        new PairingError('PAIRING_CANCELLED', 'the other device rejected the pairing'),
      );
      return { ok: true };
    });
  }

  #check(from: string): void {
    if (from !== this.#host) {
      throw new PairingError(
        this.#host === undefined ? 'PAIRING_STATE' : 'PAIRING_BUSY',
        this.#host === undefined
          ? 'pairing steps must start with pair.commit'
          : 'this device is pairing with another device',
      );
    }
  }

  async #open(eph: Ephemeral, hostKey: Uint8Array, sealed: string): Promise<PairingResult> {
    const subtle = this.#subtle;
    const key = await channelKey(subtle, eph, hostKey, hostKey, eph.pub);
    let plain: Uint8Array;
    try {
      const bytes = fromBase64Url(sealed);
      plain = new Uint8Array(
        await subtle.decrypt(
          {
            name: 'AES-GCM',
            iv: bytes.subarray(0, 12) as BufferSource,
            additionalData: aad(hostKey, eph.pub) as BufferSource,
          },
          key,
          bytes.subarray(12) as BufferSource,
        ),
      );
    } catch {
      throw new PairingError(
        'PAIRING_UNOPENABLE',
        'the delivered account secret does not open with this pairing key; pair again',
      );
    }
    const r = v.safeParse(PayloadSchema, JSON.parse(fromUtf8(plain)));
    plain.fill(0);
    if (!r.success)
      throw new PairingError('PAIRING_UNOPENABLE', 'the delivered payload is malformed');
    const secret = fromBase64Url(r.output.secret);
    checkAccountSecret(secret);
    return { secret, handle: r.output.handle, grants: r.output.grants };
  }
}

export interface PairingHostSource {
  /** The account secret (raw; the caller zeroes nothing: the host zeroes its copy after use). */
  secret(): Promise<Uint8Array>;
  /** The account's handle (`name#tag`), if this device knows it. */
  handle(): string | null;
  /** Epoch grants for the guest's box key (empty while no revocation has happened). */
  grantsFor(device: PairingDevice): Promise<unknown[]>;
}

export interface PairingOffer {
  /** The words to compare with the guest's screen. */
  words: string[];
  /** The guest as it described itself (name and kind are its claims, shown to the user). */
  device: PairingDevice;
  /** The user saw the same words: send the secret. */
  approve(): Promise<void>;
  /** The words differ or the user changed their mind. */
  reject(): Promise<void>;
}

/** The enrolled device's side: commit, reveal, check, then approve or reject. */
export async function pairWithGuest(
  bus: Bus,
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
  guest: string,
  source: PairingHostSource,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PairingOffer> {
  if (typeof guest !== 'string' || guest.length === 0) throw new ArgumentError('no guest node');
  const ro = {
    timeoutMs: opts.timeoutMs ?? 10_000,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  const eph = await ephemeral(subtle);
  const c = await bus.request(guest, 'pair.commit', {}, ro);
  const commit = reply(CommitReplySchema, c.body, 'pair.commit').commit;
  const r = await bus.request(guest, 'pair.reveal', { key: toBase64Url(eph.pub) }, ro);
  const reveal = reply(RevealReplySchema, r.body, 'pair.reveal');
  const guestKey = fromBase64Url(reveal.key);
  if (!bytesEqual(await pairingCommitment(subtle, guestKey), fromBase64Url(commit))) {
    throw new PairingError(
      'PAIRING_COMMITMENT',
      'the other device changed its key after committing to it: someone may be in the middle; pair again',
    );
  }
  const device: PairingDevice = { ...reveal.device, box: fromBase64Url(reveal.device.box) };
  const words = await pairingWords(subtle, eph.pub, guestKey);
  let done = false;
  const once = (): void => {
    if (done) throw new PairingError('PAIRING_STATE', 'this pairing was already answered');
    done = true;
  };
  return {
    words,
    device,
    async approve() {
      once();
      const secret = await source.secret();
      const payload = utf8(
        JSON.stringify({
          v: 1,
          secret: toBase64Url(secret),
          handle: source.handle(),
          grants: await source.grantsFor(device),
        }),
      );
      secret.fill(0);
      const key = await channelKey(subtle, eph, guestKey, eph.pub, guestKey);
      const iv = random(12);
      const sealed = new Uint8Array(
        await subtle.encrypt(
          {
            name: 'AES-GCM',
            iv: iv as BufferSource,
            additionalData: aad(eph.pub, guestKey) as BufferSource,
          },
          key,
          payload as BufferSource,
        ),
      );
      payload.fill(0);
      await bus.request(
        guest,
        'pair.deliver',
        { sealed: toBase64Url(concatBytes(iv, sealed)) },
        ro,
      );
    },
    async reject() {
      once();
      await bus.request(guest, 'pair.cancel', {}, ro);
    },
  };
}
