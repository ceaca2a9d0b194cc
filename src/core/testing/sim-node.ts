import type { Admission } from '../admission.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  newTabId,
  nodeIdOf,
  type DeviceIdentity,
} from '../identity.ts';
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
    given ?? (await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle)));
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
