import { MESH_KEY_RE } from '../core/identity.ts';

/**
 * Routes live in the URL fragment, which browsers never send to a server: `#/m/<meshKey>`
 * joins a mesh. `&dir=<meshId>` is a test hook that registers under another mesh's directory
 * entry (to check that a wrong key is refused).
 */
/** The personal mesh of this profile's account (its key is never put in a URL). */
export const PERSONAL_ROUTE = '#/me';

export interface MeshRoute {
  meshKey: string;
  directoryMeshId?: string;
  /** A shared mesh (`&owner=`): its owner's account key, which signs the member list. */
  owner?: string;
  /** `&invite=`: the one-time invite seed of a shared mesh invite link. */
  invite?: string;
}

export function parseMeshRoute(hash: string): MeshRoute | undefined {
  const m =
    /^#\/m\/([A-Za-z0-9_-]+)(?:&owner=([A-Za-z0-9_-]{43}))?(?:&invite=([A-Za-z0-9_-]{43}))?(?:&dir=([0-9a-f]{64}))?$/.exec(
      hash,
    );
  if (!m || !MESH_KEY_RE.test(m[1]!)) return undefined;
  if (m[3] && !m[2]) return undefined;
  return {
    meshKey: m[1]!,
    ...(m[2] ? { owner: m[2] } : {}),
    ...(m[3] ? { invite: m[3] } : {}),
    ...(m[4] ? { directoryMeshId: m[4] } : {}),
  };
}

/** A shared mesh's link: `…#/m/<key>&owner=<account key>[&invite=<seed>]` (`base` ends in the path). */
export function sharedMeshLink(base: string, meshKey: string, owner: string, invite?: string) {
  return `${base}#/m/${meshKey}&owner=${owner}${invite ? `&invite=${invite}` : ''}`;
}

export function inviteLink(origin: string, pathname: string, meshKey: string): string {
  return `${origin}${pathname}#/m/${meshKey}`;
}

/** The share link route `#/s/<code>`: the code (checked when decoded), or undefined. */
export function parseShareRoute(hash: string): string | undefined {
  const m = /^#\/s\/(.*)$/s.exec(hash);
  return m?.[1];
}
