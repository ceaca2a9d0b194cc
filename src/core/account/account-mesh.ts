import { ArgumentError, WosError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import type { AccountKeys } from './account-keys.ts';
import type { Certificate } from './certificate.ts';
import type { CertificateAdmission } from './certificate-admission.ts';
import type { RevocationList } from './revocation.ts';
import { personalMeshParts, type EpochKey, type RevocationService } from './revocation-service.ts';

/**
 * Wires a signed-in account session (account-session.ts) into a personal mesh node: the
 * admission to pass to startNode / MeshNode.create, and `attach(node)` for `beforeStart`, which
 * starts the revocation service and keeps what it learns in the session (newer revocation
 * lists, epoch keys this device made or was granted). The session is read structurally so
 * this file does not depend on how it stores things.
 */
export interface AccountSessionLike {
  readonly accountKey: Uint8Array | undefined;
  readonly certificate: Certificate | undefined;
  readonly keys: AccountKeys | undefined;
  readonly revocations: RevocationList | undefined;
  readonly epochs: number[];
  current(): { deviceId: string } | null;
  boxPublicKey(): Promise<Uint8Array>;
  saveRevocations(incoming: unknown): Promise<unknown>;
  acceptGrant(grant: unknown): Promise<number>;
  addEpochKey(epoch: number, key: Uint8Array): Promise<void>;
  exportEpochKey(epoch: number): Promise<Uint8Array>;
}

export interface AccountMesh {
  admission: CertificateAdmission;
  attach(node: MeshNode): Promise<RevocationService>;
}

/** The personal mesh parts for a signed-in session (ArgumentError when signed out). */
export async function accountMeshParts(
  session: AccountSessionLike,
  o: { subtle: SubtleCrypto; random: (n: number) => Uint8Array; now: () => number },
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
    openGrant: (grant) =>
      write(async () => {
        const epoch = await session.acceptGrant(grant);
        return { epoch, key: await session.exportEpochKey(epoch) };
      }),
  });
  return {
    admission: parts.admission,
    attach: async (node) => {
      const service = await parts.attach(node);
      const keep = (fn: () => Promise<unknown>): void => {
        write(fn).catch((e: unknown) =>
          service.emit(
            'error',
            e instanceof WosError ? e : new WosError('ACCOUNT_SAVE', String(e)),
          ),
        );
      };
      service.on('revocations', (list) => keep(() => session.saveRevocations(list)));
      // Keys this device made (revoke); granted ones are kept by acceptGrant already.
      service.on('epoch', (e) =>
        keep(async () => {
          if (!session.epochs.includes(e.epoch)) await session.addEpochKey(e.epoch, e.key);
        }),
      );
      return service;
    },
  };
}
