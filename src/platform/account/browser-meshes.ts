import { openDB, type IDBPDatabase } from 'idb';
import type { AccountSession } from '../../core/account/account-session.ts';
import { makeInviteClaim, newMemberList, type MemberList } from '../../core/account/member-list.ts';
import { sharedMeshParts, type SharedMeshService } from '../../core/account/shared-mesh.ts';
import type { SharedMeshAdmission } from '../../core/account/shared-mesh.ts';
import { fromBase64Url, toBase64Url } from '../../core/bytes.ts';
import { ArgumentError, WosError } from '../../core/errors.ts';
import { meshIdOf, newMeshKey } from '../../core/identity.ts';
import type { MeshNode } from '../../core/mesh-node.ts';
import { sharedMeshLink, type MeshRoute } from '../../sdk/fragment.ts';

/**
 * Shared meshes this profile knows (IndexedDB `wos-meshes`, store `meshes`, keyed by mesh id):
 * mesh key, owner, name and the newest member list seen. The mesh key is a secret of the mesh
 * (anyone holding it can reach its members' admission); it stays on this profile and in the
 * fragment of links, never in localStorage or requests.
 */
export interface SharedMeshRecord {
  readonly meshId: string;
  readonly meshKey: string;
  readonly owner: string;
  readonly name: string;
  readonly list?: MemberList;
}

const DB = 'wos-meshes';

async function use<T>(f: (d: IDBPDatabase) => Promise<T>): Promise<T> {
  const d = await openDB(DB, 1, {
    upgrade(x) {
      x.createObjectStore('meshes');
    },
  });
  try {
    return await f(d);
  } finally {
    d.close();
  }
}

export function listSharedMeshes(): Promise<SharedMeshRecord[]> {
  return use(async (d) => (await d.getAll('meshes')) as SharedMeshRecord[]);
}

function loadRecord(meshId: string): Promise<SharedMeshRecord | undefined> {
  return use(async (d) => (await d.get('meshes', meshId)) as SharedMeshRecord | undefined);
}

function saveRecord(r: SharedMeshRecord): Promise<void> {
  return use(async (d) => {
    // Read and write in one transaction: another tab's save cannot fall between them.
    const tx = d.transaction('meshes', 'readwrite');
    const have = (await tx.store.get(r.meshId)) as SharedMeshRecord | undefined;
    // Keep the newest list when two tabs save at once. One mesh key has one owner: a link
    // naming another owner for a known key is not trusted.
    const older = !!have?.list && !!r.list && have.list.version > r.list.version;
    if (!older && !(have && have.owner !== r.owner)) await tx.store.put(r, r.meshId);
    await tx.done;
  });
}

const base = (): string => `${location.origin}${location.pathname}`;

/** Creates a shared mesh owned by the signed-in account; returns the link that enters it. */
export async function createSharedMesh(
  session: AccountSession,
  name: string,
): Promise<{ link: string; meshId: string }> {
  const keys = session.keys;
  const info = session.current();
  if (!keys || !info) {
    throw new WosError('ACCOUNT_NOT_SIGNED_IN', 'creating a shared mesh needs an account');
  }
  const clean = name.normalize('NFC').trim();
  if (clean.length < 1 || clean.length > 64) {
    throw new ArgumentError('a shared mesh name is 1–64 characters');
  }
  const meshKey = newMeshKey((n) => crypto.getRandomValues(new Uint8Array(n)));
  const meshId = await meshIdOf(crypto.subtle, meshKey);
  const list = await newMemberList(keys, {
    meshId,
    name: clean,
    ...(info.handle ? { handle: info.handle } : {}),
    at: Date.now(),
  });
  await saveRecord({ meshId, meshKey, owner: list.owner, name: list.name, list });
  return { link: sharedMeshLink(base(), meshKey, list.owner), meshId };
}

export interface BrowserSharedMesh {
  admission: SharedMeshAdmission;
  attach(node: MeshNode): Promise<SharedMeshService>;
  /** `…/#/m/<key>&owner=<key>&invite=<seed>` for a seed made by `service.invite()`. */
  inviteLink(seed: Uint8Array): string;
}

/**
 * The parts of the shared mesh `route` names (`#/m/<key>&owner=…[&invite=…]`): admission,
 * service (its lists kept in IndexedDB), and the invite claim this device shows while it is an
 * invitee. Once its account is in the list, the invite is dropped from the address bar.
 */
export async function browserSharedMesh(
  session: AccountSession,
  route: MeshRoute & { owner: string },
): Promise<BrowserSharedMesh> {
  const subtle = crypto.subtle;
  const meshId = await meshIdOf(subtle, route.meshKey);
  const stored = await loadRecord(meshId);
  const cert = session.certificate;
  const keys = session.keys;
  const info = session.current();
  const isOwner = keys !== undefined && toBase64Url(keys.publicKey) === route.owner;
  const claim =
    route.invite && cert
      ? await makeInviteClaim(subtle, {
          meshId,
          seed: fromBase64Url(route.invite),
          account: cert.account,
          ...(info?.handle ? { handle: info.handle } : {}),
        })
      : undefined;
  const parts = sharedMeshParts({
    meshId,
    owner: route.owner,
    subtle,
    random: (n) => crypto.getRandomValues(new Uint8Array(n)),
    now: () => Date.now(),
    ...(cert ? { certificate: cert } : {}),
    ...(claim ? { claim } : {}),
    ...(isOwner && keys ? { signer: keys } : {}),
    ...(stored?.list && stored.owner === route.owner ? { list: stored.list } : {}),
  });
  return {
    admission: parts.admission,
    inviteLink: (seed) => sharedMeshLink(base(), route.meshKey, route.owner, toBase64Url(seed)),
    attach: async (node) => {
      const service = await parts.attach(node);
      let writes: Promise<unknown> = Promise.resolve();
      service.on('members', (list) => {
        writes = writes
          .then(() =>
            saveRecord({
              meshId,
              meshKey: route.meshKey,
              owner: list.owner,
              name: list.name,
              list,
            }),
          )
          .catch((e: unknown) => service.emit('error', new WosError('MEMBERS_SAVE', String(e))));
        const self = cert?.account;
        if (route.invite && self && list.members.some((m) => m.account === self)) {
          history.replaceState(null, '', `#/m/${route.meshKey}&owner=${route.owner}`);
        }
      });
      return service;
    },
  };
}
