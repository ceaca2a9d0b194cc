import type { MeshNode } from './mesh-node.ts';

/**
 * Sends `t` to `id`, retrying a few times while it stays a member: a member learned through
 * gossip may have no route yet when it joins, and a first send then fails.
 */
export function sendSoon(
  node: Pick<MeshNode, 'bus' | 'members' | 'clock'>,
  id: string,
  t: string,
  body: unknown,
  tries = 4,
  gapMs = 250,
): void {
  node.bus.send(id, t, body).catch(() => {
    if (tries <= 1 || !node.members.alive().some((m) => m.id === id)) return;
    node.clock.setTimeout(() => sendSoon(node, id, t, body, tries - 1, gapMs), gapMs);
  });
}
