import { systemClock } from '../../src/core/clock.ts';
import { WosError } from '../../src/core/errors.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  meshAuthKeyOf,
  meshIdOf,
  newTabId,
  nodeIdOf,
} from '../../src/core/identity.ts';
import type { LinkContext } from '../../src/core/link.ts';

export const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

/** A link context for a fresh device in the mesh of `meshKey` (real WebCrypto, real clock). */
export async function linkContext(meshKey: string): Promise<LinkContext> {
  const subtle = crypto.subtle;
  const identity = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
  return {
    nodeId: nodeIdOf(identity.deviceId, newTabId(random)),
    kind: 'agent',
    identity,
    meshId: await meshIdOf(subtle, meshKey),
    meshAuthKey: await meshAuthKeyOf(subtle, meshKey),
    subtle,
    random,
    clock: systemClock,
    maxMessageBytes: 1 << 20,
    handshakeTimeoutMs: 10_000,
  };
}

/** How a link attempt ended: the error's code, or 'linked'. */
export const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'linked',
    (e: unknown) => (e instanceof WosError ? e.code : String(e)),
  );
