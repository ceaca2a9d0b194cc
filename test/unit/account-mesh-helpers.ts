import { deriveAccountKeys, type AccountKeys } from '../../src/core/account/account-keys.ts';
import { issueCertificate, type Certificate } from '../../src/core/account/certificate.ts';
import { generateBoxKeyPair } from '../../src/core/account/epoch-keys.ts';
import type { GrantStore } from '../../src/core/account/grant-relay.ts';
import type { RevocationList } from '../../src/core/account/revocation.ts';
import { personalMeshParts } from '../../src/core/account/account-mesh.ts';
import type { RevocationService } from '../../src/core/account/revocation-service.ts';
import type { Admission } from '../../src/core/admission.ts';
import {
  generateDeviceKeyPair,
  identityFromKeyPair,
  type DeviceIdentity,
} from '../../src/core/identity.ts';
import type { MeshNode } from '../../src/core/mesh-node.ts';
import { ManualClock } from '../../src/core/testing/manual-clock.ts';
import { MemoryNetwork } from '../../src/core/testing/memory-network.ts';
import { seededBytes, seededRandom } from '../../src/core/testing/seeded-random.ts';
import { createSimNode, trackedSubtle } from '../../src/core/testing/sim-node.ts';

/** A personal mesh on the in-memory network: an account, devices with certificates, nodes. */
export async function accountWorld(seed: number) {
  const clock = new ManualClock(1_700_000_000_000);
  const rand = seededRandom(seed);
  const bytes = seededBytes(rand);
  const net = new MemoryNetwork(clock, { latencyMs: 2, jitterMs: 1, random: rand });
  const subtle = trackedSubtle(clock);
  const secret = (n: number) => Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + n) & 255);
  const account = await deriveAccountKeys(subtle, secret(seed));
  const other = await deriveAccountKeys(subtle, secret(seed + 100));
  let serial = 0;

  interface Device {
    identity: DeviceIdentity;
    deviceId: string;
    certificate: Certificate;
    box: { keyPair: CryptoKeyPair; publicKey: Uint8Array };
  }

  async function device(name: string, by: AccountKeys = account): Promise<Device> {
    const identity = await identityFromKeyPair(subtle, await generateDeviceKeyPair(subtle));
    const box = await generateBoxKeyPair(subtle);
    const certificate = await issueCertificate(subtle, by, {
      deviceKey: identity.publicKey,
      boxKey: box.publicKey,
      name,
      kind: 'tab',
      issued: clock.now(),
      serial: ++serial,
    });
    return { identity, deviceId: identity.deviceId, certificate, box };
  }

  interface Member {
    node: MeshNode;
    service: RevocationService;
    errors: string[];
    /** Codes of the service's `error` events (refused lists, grants, messages). */
    serviceErrors: string[];
    dev: Device;
  }

  /** A node of `dev` in the personal mesh, with admission and revocation service. */
  async function member(
    dev: Device,
    o: { start?: boolean; grantStore?: GrantStore; list?: RevocationList } = {},
  ): Promise<Member> {
    const parts = personalMeshParts({
      accountKey: account.publicKey,
      subtle,
      random: bytes,
      now: () => clock.now(),
      self: {
        deviceId: dev.deviceId,
        certificate: dev.certificate,
        boxPrivateKey: dev.box.keyPair.privateKey,
        boxPublicKey: dev.box.publicKey,
      },
      signer: account,
      ...(o.grantStore ? { grantStore: o.grantStore } : {}),
      ...(o.list ? { list: o.list } : {}),
    });
    const { node } = await createSimNode(net, bytes, {
      meshKey: account.meshKey,
      identity: dev.identity,
      admission: parts.admission,
    });
    const service = await parts.attach(node);
    const errors: string[] = [];
    node.on('error', (e) => errors.push(e.code));
    const serviceErrors: string[] = [];
    service.on('error', (e) => serviceErrors.push(e.code));
    if (o.start !== false) void node.start();
    return { node, service, errors, serviceErrors, dev };
  }

  /** A node on the personal mesh's key with a given (or the open) admission. */
  async function outsider(admission?: Admission, identity?: DeviceIdentity) {
    const { node } = await createSimNode(net, bytes, {
      meshKey: account.meshKey,
      ...(admission ? { admission } : {}),
      ...(identity ? { identity } : {}),
    });
    const errors: string[] = [];
    node.on('error', (e) => errors.push(e.code));
    void node.start();
    return { node, errors };
  }

  return { clock, net, bytes, subtle, account, other, device, member, outsider };
}

export function ids(node: MeshNode): string[] {
  return node.nodes().map((n) => n.id);
}
