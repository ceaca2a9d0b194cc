import { deviceOfNode } from '../identity.ts';
import type { NodeKind } from '../link.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { Resources } from '../resources.ts';
import type { Certificate, DeviceKind } from './certificate.ts';
import type { KnownDevice } from './certificate-admission.ts';
import { isRevoked, type RevocationList } from './revocation.ts';

/** One device of the account as the Devices view shows it (RevocationService.devices()). */
export interface DeviceInfo {
  readonly deviceId: string;
  readonly name: string;
  readonly kind: DeviceKind;
  readonly certificate: Certificate;
  readonly self: boolean;
  readonly revoked: boolean;
  /** A node of this device is a live member now (or it is this device). */
  readonly online: boolean;
  /** Last evidence of life, ms (wall clock); undefined when never seen. */
  readonly lastSeen: number | undefined;
  readonly nodes: readonly { id: string; kind: NodeKind; resources: Resources | undefined }[];
  /** The storage epochs it holds (0 included), as it announced them; undefined: not heard. */
  readonly epochs: readonly number[] | undefined;
  /**
   * It lacks the current epoch (≥ 1) and no grant of it is on its way: it reads new files only
   * after a device that holds the epoch approves it (for this device: it waits for that).
   */
  readonly needsApproval: boolean;
}

export interface DeviceListInput {
  readonly node: MeshNode;
  readonly self: { readonly deviceId: string; readonly certificate: Certificate };
  readonly now: () => number;
  readonly known: ReadonlyMap<string, KnownDevice>;
  readonly list: RevocationList | undefined;
  /** When each device was last seen leaving (wall clock, ms). */
  readonly lastSeen: ReadonlyMap<string, number>;
  /** The epochs a device holds, as far as this node knows. */
  readonly held: (deviceId: string) => readonly number[] | undefined;
  /** Whether a device is known to lack an epoch (no grant of it on its way either). */
  readonly lacks: (deviceId: string, epoch: number) => boolean;
}

/** Every device whose certificate this node has verified, this one first, then by name. */
export function deviceList(i: DeviceListInput): DeviceInfo[] {
  const { self, now, node } = i;
  const known = new Map(i.known);
  known.set(self.deviceId, { certificate: self.certificate, at: now() });
  const view = node.registry.view();
  const alive = node.members.alive();
  const nowMs = now();
  const clockNow = node.clock.now();
  const current = i.list?.epoch ?? 0;
  const out: DeviceInfo[] = [];
  for (const [id, k] of known) {
    const isSelf = id === self.deviceId;
    const members = alive.filter((m) => deviceOfNode(m.id) === id);
    const nodes = members.map((m) => ({
      id: m.id,
      kind: m.kind,
      resources: view.get(m.id)?.resources,
    }));
    if (isSelf) {
      nodes.unshift({
        id: node.id,
        kind: node.members.self.kind,
        resources: view.get(node.id)?.resources ?? node.registry.local?.resources,
      });
    }
    // Member times are on the node's clock; convert to wall clock.
    const seen = members.map((m) => nowMs - (clockNow - m.seenAt));
    const lastSeen = isSelf
      ? nowMs
      : seen.length > 0
        ? Math.max(...seen)
        : (i.lastSeen.get(id) ?? k.at);
    const revoked = i.list ? isRevoked(i.list, id) : false;
    const epochs = i.held(id);
    out.push({
      deviceId: id,
      name: k.certificate.name,
      kind: k.certificate.kind,
      certificate: k.certificate,
      self: isSelf,
      revoked,
      online: isSelf || members.length > 0,
      lastSeen,
      nodes,
      epochs,
      needsApproval: !revoked && current >= 1 && i.lacks(id, current),
    });
  }
  return out.sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.name.localeCompare(b.name)));
}
