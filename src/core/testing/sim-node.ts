import type { Admission } from '../admission.ts';
import { identityFromKeyPair, newTabId, nodeIdOf, type DeviceIdentity } from '../identity.ts';
import type { NodeKind } from '../link.ts';
import { MeshNode, type MeshNodeOptions } from '../mesh-node.ts';
import { emptyResources } from '../resources.ts';
import type { ManualClock } from './manual-clock.ts';
import type { MemoryNetwork, MemoryTransport } from './memory-network.ts';

/** WebCrypto whose operations hold the manual clock until they finish. */
export function trackedSubtle(clock: ManualClock): SubtleCrypto {
  const real = globalThis.crypto.subtle;
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        clock.track((value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}

/** Builds a MeshNode on an in-memory network, for tests and simulations. */
export async function createSimNode(
  net: MemoryNetwork,
  random: (n: number) => Uint8Array,
  opts: Omit<MeshNodeOptions, 'kind'> & {
    kind?: NodeKind;
    /** This device's identity (default: a fresh one); two nodes of one device share it. */
    identity?: DeviceIdentity;
    admission?: Admission;
  },
): Promise<{ node: MeshNode; transport: MemoryTransport }> {
  const subtle = trackedSubtle(net.clock as ManualClock);
  const { identity: given, admission, ...nodeOpts } = opts;
  const identity =
    given ?? (await identityFromKeyPair(subtle, await seededDeviceKeyPair(subtle, random)));
  const transport = net.transport(nodeIdOf(identity.deviceId, newTabId(random)));
  const node = await MeshNode.create(
    {
      transport,
      directory: net.directory(transport.id),
      identity,
      subtle,
      random,
      clock: net.clock,
      ...(admission ? { admission } : {}),
    },
    { kind: 'tab', ...nodeOpts },
  );
  node.setResources({ ...emptyResources(), cores: 1 + (random(1)[0]! % 16), platform: 'sim' });
  return { node, transport };
}

/**
 * A mesh of `count` sim nodes on `net`, started `stepMs` apart and then given `settleMs` to
 * link up and elect (seeded like its network, so a test can replay it).
 */
export async function startSimMesh(
  net: MemoryNetwork,
  random: (n: number) => Uint8Array,
  count: number,
  opts: Parameters<typeof createSimNode>[2],
  { stepMs = 50, settleMs = 3000 } = {},
): Promise<{ node: MeshNode; transport: MemoryTransport }[]> {
  const clock = net.clock as ManualClock;
  const made = [];
  for (let i = 0; i < count; i++) {
    const m = await createSimNode(net, random, opts);
    void m.node.start();
    made.push(m);
    await clock.advance(stepMs);
  }
  await clock.advance(settleMs);
  return made;
}

/** PKCS #8 for a P-256 private key with only its scalar (the public point is derived on import). */
const P256_PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01,
  0x01, 0x04, 0x20,
]);

/**
 * A device key pair drawn from `random`: a simulation's node ids (hence its membership order,
 * coordinator and placement) then follow from its seed alone, as WebCrypto's own key
 * generation would not let them. Tests only: the private scalar comes from a seeded stream.
 */
export async function seededDeviceKeyPair(
  subtle: SubtleCrypto,
  random: (n: number) => Uint8Array,
): Promise<CryptoKeyPair> {
  const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' };
  for (let attempt = 1; ; attempt++) {
    const der = new Uint8Array(P256_PKCS8_PREFIX.length + 32);
    der.set(P256_PKCS8_PREFIX);
    der.set(random(32), P256_PKCS8_PREFIX.length);
    let privateKey: CryptoKey;
    try {
      privateKey = await subtle.importKey('pkcs8', der, ecdsa, true, ['sign']);
    } catch (e) {
      // A scalar of 0 or ≥ the group order (odds ~2⁻³²): draw again; a runtime that refuses
      // such keys altogether fails here instead of looping.
      if (attempt >= 4) throw e;
      continue;
    }
    const { x, y } = await subtle.exportKey('jwk', privateKey);
    const publicKey = await subtle.importKey(
      'jwk',
      { kty: 'EC', crv: 'P-256', x, y },
      ecdsa,
      true,
      ['verify'],
    );
    return { privateKey, publicKey };
  }
}
