import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { identityFromKeyPair, type DeviceIdentity } from '../core/identity.ts';

/**
 * The agent's device key lives in its data folder (mode 0600), as the browser's lives in
 * IndexedDB: the same folder means the same device on every run.
 */
interface StoredKey {
  v: 1;
  privateJwk: JsonWebKey;
  publicJwk: JsonWebKey;
}

export async function loadAgentIdentity(
  dir: string,
  subtle: SubtleCrypto,
): Promise<DeviceIdentity> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'device-key.json');
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  let stored: StoredKey | undefined;
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as StoredKey;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `cannot read the agent key ${file}: ${(e as Error).message}; fix or delete it`,
        {
          cause: e,
        },
      );
    }
  }
  if (!stored) {
    const pair = await subtle.generateKey(alg, true, ['sign', 'verify']);
    stored = {
      v: 1,
      privateJwk: await subtle.exportKey('jwk', pair.privateKey),
      publicJwk: await subtle.exportKey('jwk', pair.publicKey),
    };
    await writeFile(file, JSON.stringify(stored), { mode: 0o600 });
    await chmod(file, 0o600);
  }
  const pair: CryptoKeyPair = {
    privateKey: await subtle.importKey('jwk', stored.privateJwk, alg, false, ['sign']),
    publicKey: await subtle.importKey('jwk', stored.publicJwk, alg, true, ['verify']),
  };
  return identityFromKeyPair(subtle, pair);
}
