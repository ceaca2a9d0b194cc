import { toHex, utf8, concatBytes, fromBase64Url, toBase64Url } from './bytes.ts';
import { ArgumentError } from './errors.ts';

/**
 * A device is a browser profile (or an agent's folder) with a persistent ECDSA P-256 key pair;
 * a node is one tab or agent process on it. Node ids are `<deviceId>-<tabId>` where the device
 * id is derived from the public key, so a peer proves its node id by signing with that key.
 */
export interface DeviceIdentity {
  readonly deviceId: string;
  /** Raw uncompressed P-256 public key (65 bytes). */
  readonly publicKey: Uint8Array;
  sign(data: Uint8Array): Promise<Uint8Array>;
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array, chars: number): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      bits -= 5;
      out += BASE32[(acc >> bits) & 31]!;
    }
    acc &= (1 << bits) - 1;
    if (out.length >= chars) break;
  }
  return out;
}

export async function sha256(subtle: SubtleCrypto, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest('SHA-256', data as BufferSource));
}

export async function deviceIdOf(subtle: SubtleCrypto, publicKey: Uint8Array): Promise<string> {
  return base32(await sha256(subtle, concatBytes(utf8('wos/device/v1|'), publicKey)), 16);
}

export function newTabId(random: (n: number) => Uint8Array): string {
  return base32(random(5), 8);
}

export function nodeIdOf(deviceId: string, tabId: string): string {
  return `${deviceId}-${tabId}`;
}

export function deviceOfNode(nodeId: string): string {
  return nodeId.slice(0, nodeId.indexOf('-'));
}

/** Creates an identity from a WebCrypto ECDSA key pair (private key may be non-extractable). */
export async function identityFromKeyPair(
  subtle: SubtleCrypto,
  pair: CryptoKeyPair,
): Promise<DeviceIdentity> {
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  const deviceId = await deviceIdOf(subtle, publicKey);
  return {
    deviceId,
    publicKey,
    sign: async (data) =>
      new Uint8Array(
        await subtle.sign(
          { name: 'ECDSA', hash: 'SHA-256' },
          pair.privateKey,
          data as BufferSource,
        ),
      ),
  };
}

export async function generateDeviceKeyPair(subtle: SubtleCrypto): Promise<CryptoKeyPair> {
  return subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
}

export async function verifySignature(
  subtle: SubtleCrypto,
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    const key = await subtle.importKey(
      'raw',
      publicKey as BufferSource,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    return await subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      signature as BufferSource,
      data as BufferSource,
    );
  } catch {
    return false;
  }
}

/** Mesh keys are 32 random bytes in base64url (43 characters), carried only in URL fragments. */
export const MESH_KEY_RE = /^[A-Za-z0-9_-]{43}$/;

export function newMeshKey(random: (n: number) => Uint8Array): string {
  return toBase64Url(random(32));
}

export function checkMeshKey(key: string): string {
  if (!MESH_KEY_RE.test(key)) {
    throw new ArgumentError(
      'mesh key must be 43 base64url characters (as in an invite link …/#/m/<key>); check the link',
    );
  }
  fromBase64Url(key);
  return key;
}

/** What the directory server sees: a one-way hash of the mesh key. */
export async function meshIdOf(subtle: SubtleCrypto, meshKey: string): Promise<string> {
  return toHex(await sha256(subtle, utf8(`wos/mesh-id/v1|${checkMeshKey(meshKey)}`)));
}

/** The key peers use to prove knowledge of the mesh key; unrelated to the public mesh id. */
export async function meshAuthKeyOf(subtle: SubtleCrypto, meshKey: string): Promise<CryptoKey> {
  const raw = await sha256(subtle, utf8(`wos/mesh-auth/v1|${checkMeshKey(meshKey)}`));
  return subtle.importKey('raw', raw as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
}
