import { ArgumentError, WosError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { AccountKeys } from './account-keys.ts';
import type { Certificate } from './certificate.ts';
import type { GrantStore } from './grant-relay.ts';
import {
  epochMessage,
  listMessage,
  parseProfileMessage,
  type ProfileChannel,
} from './profile-channel.ts';
import type { RevocationList } from './revocation.ts';
import {
  certificateAdmission,
  type CertificateAdmission,
  type CertificateAdmissionOptions,
} from './certificate-admission.ts';
import {
  RevocationService,
  type EpochKey,
  type RevocationServiceOptions,
} from './revocation-service.ts';

/**
 * Wires a signed-in account session (account-session.ts) into a personal mesh node: the
 * admission to pass to startNode / MeshNode.create, and `attach(node)` for `beforeStart`, which
 * starts the revocation service and keeps what it learns in the session (newer revocation
 * lists, epoch keys this device made or was granted, grants relayed for other devices). With a
 * profile channel, the other tabs of this profile take up each new key and list at once. The
 * session is read structurally so this file does not depend on how it stores things.
 */
export interface AccountSessionLike {
  readonly accountKey: Uint8Array | undefined;
  readonly certificate: Certificate | undefined;
  readonly keys: AccountKeys | undefined;
  readonly revocations: RevocationList | undefined;
  readonly epochs: number[];
  current(): { deviceId: string } | null;
  boxPublicKey(): Promise<Uint8Array>;
  saveRevocations(incoming: unknown): Promise<{ changed: boolean }>;
  acceptGrant(grant: unknown): Promise<number>;
  addEpochKey(epoch: number, key: Uint8Array): Promise<void>;
  exportEpochKey(epoch: number): Promise<Uint8Array>;
  /** Takes up what another tab stored (with a profile channel). */
  refresh?(): Promise<void>;
  readonly grantStore?: GrantStore;
}

export interface AccountMesh {
  admission: CertificateAdmission;
  attach(node: MeshNode): Promise<RevocationService>;
}

/** The personal mesh parts for a signed-in session (ArgumentError when signed out). */
export async function accountMeshParts(
  session: AccountSessionLike,
  o: {
    subtle: SubtleCrypto;
    random: (n: number) => Uint8Array;
    now: () => number;
    /** The other tabs of this profile (BroadcastChannel in a browser). */
    channel?: ProfileChannel;
  },
): Promise<AccountMesh> {
  const info = session.current();
  const { accountKey, certificate, keys } = session;
  if (!info || !accountKey || !certificate || !keys) {
    throw new ArgumentError('the personal mesh needs a signed-in account on this device');
  }
  const newest = Math.max(0, ...session.epochs);
  const epochKey: EpochKey | undefined =
    newest > 0 ? { epoch: newest, key: await session.exportEpochKey(newest) } : undefined;
  const boxPublicKey = await session.boxPublicKey();
  // One session write at a time: each one replaces the stored record.
  let writes: Promise<unknown> = Promise.resolve();
  const write = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = writes.then(fn);
    writes = run.catch(() => {});
    return run;
  };
  const parts = personalMeshParts({
    accountKey,
    subtle: o.subtle,
    random: o.random,
    now: o.now,
    self: { deviceId: info.deviceId, certificate, boxPublicKey },
    signer: keys,
    ...(session.revocations ? { list: session.revocations } : {}),
    ...(epochKey ? { epochKey } : {}),
    epochs: session.epochs,
    exportEpochKey: (e) => session.exportEpochKey(e),
    ...(session.grantStore ? { grantStore: session.grantStore } : {}),
    openGrant: (grant) =>
      write(async () => {
        const held = session.epochs;
        const epoch = await session.acceptGrant(grant);
        if (!held.includes(epoch)) o.channel?.post(epochMessage(epoch));
        return { epoch, key: await session.exportEpochKey(epoch) };
      }),
  });
  return {
    admission: parts.admission,
    attach: async (node) => {
      const service = await parts.attach(node);
      const report = (e: unknown): void => {
        service.emit('error', e instanceof WosError ? e : new WosError('ACCOUNT_SAVE', String(e)));
      };
      const keep = (fn: () => Promise<unknown>): void => {
        write(fn).catch(report);
      };
      service.on('revocations', (list) =>
        keep(async () => {
          if ((await session.saveRevocations(list)).changed) o.channel?.post(listMessage(list));
        }),
      );
      // Keys this device made (revoke); granted ones are kept by acceptGrant already.
      service.on('epoch', (e) =>
        keep(async () => {
          if (session.epochs.includes(e.epoch)) return;
          await session.addEpochKey(e.epoch, e.key);
          o.channel?.post(epochMessage(e.epoch));
        }),
      );
      // The store is read in the write queue and the service told after it, outside: the
      // service's own queue may be waiting for a write (opening a grant), and waiting for the
      // service from inside the write queue would stall both for good.
      o.channel?.subscribe((m) => {
        write(() => fromOtherTab(session, m))
          .then((learn) => learn(service))
          .catch(report);
      });
      return service;
    },
  };
}

/**
 * Another tab of this profile kept a key or a list: reads it from the store, and returns how to
 * tell the service (called outside the write queue).
 */
async function fromOtherTab(
  session: AccountSessionLike,
  message: unknown,
): Promise<(service: RevocationService) => Promise<void>> {
  const m = parseProfileMessage(message);
  await session.refresh?.();
  if (m.t === 'revocations') return (service) => service.learnList(m.list);
  if (!session.epochs.includes(m.epoch)) return async () => {}; // not in this profile's store
  const e: EpochKey = { epoch: m.epoch, key: await session.exportEpochKey(m.epoch) };
  return (service) => service.learnEpoch(e);
}

/**
 * Everything a personal mesh needs, in the order startNode wants it: pass `admission` to
 * startNode (or MeshNode.create) and call `attach(node)` in `beforeStart`. The admission reads
 * the revocation list the service keeps.
 */
export function personalMeshParts(
  o: Omit<RevocationServiceOptions, 'admission'> & Pick<CertificateAdmissionOptions, 'accountKey'>,
): { admission: CertificateAdmission; attach(node: MeshNode): Promise<RevocationService> } {
  let service: RevocationService | undefined;
  const admission = certificateAdmission({
    accountKey: o.accountKey,
    subtle: o.subtle,
    now: o.now,
    certificate: o.self.certificate,
    // Until the service is attached, the stored list (verified by attach) is the one in force.
    revocations: () => service?.list ?? o.list,
  });
  return {
    admission,
    attach: async (node) => (service = await RevocationService.attach(node, { ...o, admission })),
  };
}
