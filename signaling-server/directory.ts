import { MeshFullError, TooManyMeshesError } from './errors.ts';

/**
 * The mesh directory: which connected peers are members of which mesh. Mesh ids are hashes of
 * mesh keys, so the server never learns the key. Membership lives only as long as the peer's
 * PeerJS socket: `dropPeer` is called when it disconnects or times out.
 */
export class MeshDirectory {
  private readonly meshes = new Map<string, Set<string>>();
  private readonly byPeer = new Map<string, Set<string>>();
  private membershipCount = 0;

  constructor(private readonly limits: { maxPeersPerMesh: number; maxMeshesPerPeer: number }) {}

  /** Adds `peerId` (idempotent) and returns the other members. */
  join(meshId: string, peerId: string): string[] {
    let members = this.meshes.get(meshId);
    const mine = this.byPeer.get(peerId);
    if (!members?.has(peerId)) {
      if (members && members.size >= this.limits.maxPeersPerMesh) {
        throw new MeshFullError(this.limits.maxPeersPerMesh);
      }
      if (mine && mine.size >= this.limits.maxMeshesPerPeer) {
        throw new TooManyMeshesError(this.limits.maxMeshesPerPeer);
      }
      if (!members) this.meshes.set(meshId, (members = new Set()));
      members.add(peerId);
      if (mine) mine.add(meshId);
      else this.byPeer.set(peerId, new Set([meshId]));
      this.membershipCount++;
    }
    return this.others(members, peerId);
  }

  /** Removes `peerId` from one mesh; returns whether it was a member. */
  leave(meshId: string, peerId: string): boolean {
    const members = this.meshes.get(meshId);
    if (!members?.delete(peerId)) return false;
    if (members.size === 0) this.meshes.delete(meshId);
    const mine = this.byPeer.get(peerId);
    mine?.delete(meshId);
    if (mine?.size === 0) this.byPeer.delete(peerId);
    this.membershipCount--;
    return true;
  }

  /** Removes `peerId` from every mesh; returns the mesh ids it left. */
  dropPeer(peerId: string): string[] {
    const mine = this.byPeer.get(peerId);
    if (!mine) return [];
    const left = [...mine];
    for (const meshId of left) this.leave(meshId, peerId);
    return left;
  }

  peers(meshId: string): string[] {
    const members = this.meshes.get(meshId);
    return members ? [...members] : [];
  }

  meshesOf(peerId: string): string[] {
    return [...(this.byPeer.get(peerId) ?? [])];
  }

  get meshCount(): number {
    return this.meshes.size;
  }

  get memberships(): number {
    return this.membershipCount;
  }

  private others(members: Set<string>, self: string): string[] {
    const out: string[] = [];
    for (const p of members) if (p !== self) out.push(p);
    return out;
  }
}
