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
}

export function parseMeshRoute(hash: string): MeshRoute | undefined {
  const m = /^#\/m\/([A-Za-z0-9_-]+)(?:&dir=([0-9a-f]{64}))?$/.exec(hash);
  if (!m || !MESH_KEY_RE.test(m[1]!)) return undefined;
  return m[2] ? { meshKey: m[1]!, directoryMeshId: m[2] } : { meshKey: m[1]! };
}

export function inviteLink(origin: string, pathname: string, meshKey: string): string {
  return `${origin}${pathname}#/m/${meshKey}`;
}

/** The share link route `#/s/<code>`: the code (checked when decoded), or undefined. */
export function parseShareRoute(hash: string): string | undefined {
  const m = /^#\/s\/(.*)$/s.exec(hash);
  return m?.[1];
}
