import { Peer } from 'peerjs';
import type { AccountInfo, AccountSession } from '../../core/account/account-session.ts';
import {
  PairingError,
  PairingGuest,
  pairWithGuest,
  type PairingOffer,
} from '../../core/account/pairing.ts';
import { systemClock } from '../../core/clock.ts';
import { deviceOfNode, newMeshKey, type DeviceIdentity } from '../../core/identity.ts';
import { emptyResources } from '../../core/resources.ts';
import { startNode, type StartedNode } from '../start-node.ts';

/**
 * Pairing in the browser (protocol: src/core/account/pairing.ts). The new device shows a
 * `…/#/pair/<key>` link (text and QR) and joins the one-time rendezvous mesh of that key with a
 * second node of this tab; a tab of an enrolled profile opens the link, joins the same mesh,
 * and pairs with the first node it meets. The key only ever travels in the fragment.
 */
export const PAIR_ROUTE = /^#\/pair\/([A-Za-z0-9_-]{43})$/;

export function pairLink(origin: string, pathname: string, key: string): string {
  return `${origin}${pathname}#/pair/${key}`;
}

/** The rendezvous key of a `#/pair/<key>` fragment, or undefined. */
export function parsePairRoute(hash: string): string | undefined {
  return PAIR_ROUTE.exec(hash)?.[1];
}

function joinRendezvous(
  meshKey: string,
  identity: DeviceIdentity,
  beforeStart?: Parameters<typeof startNode>[0]['beforeStart'],
): Promise<StartedNode> {
  return startNode({
    serverUrl: location.origin,
    meshKey,
    kind: 'tab',
    identity,
    PeerClass: Peer,
    clock: systemClock,
    // A rendezvous node donates nothing and measures nothing.
    probe: async () => ({ ...emptyResources(), platform: 'pairing' }),
    measureNeighbours: 0,
    ...(beforeStart ? { beforeStart } : {}),
  });
}

/** How long the new device still waits for the secret after the other device left, ms. */
const HOST_LEFT_GRACE_MS = 3000;

export interface GuestPairing {
  /** The link to open on an enrolled device. */
  link: string;
  /** The words to compare, once the other device has connected. */
  words: Promise<string[]>;
  /** This device, signed in (the tab moves to the personal mesh on its next start). */
  done: Promise<AccountInfo>;
  /** Stops waiting and leaves the rendezvous mesh. */
  cancel(): void;
}

/** The new device's side: a link to show, then the words, then the account. */
export async function pairAsGuest(
  session: AccountSession,
  identity: DeviceIdentity,
  deviceName: string,
): Promise<GuestPairing> {
  const key = newMeshKey((n) => crypto.getRandomValues(new Uint8Array(n)));
  const box = await session.boxPublicKey();
  let guest: PairingGuest | undefined;
  let hostId: string | undefined;
  let showWords!: (w: string[]) => void;
  const words = new Promise<string[]>((r) => (showWords = r));
  const node = await joinRendezvous(key, identity, (n) => {
    guest = new PairingGuest(n.bus, crypto.subtle, {
      id: identity.deviceId,
      box,
      name: deviceName,
      kind: 'tab',
    });
    guest.onWords = (w, host) => {
      hostId = host;
      showWords(w);
    };
  });
  const leave = (): void => {
    clearTimeout(hostLeft);
    node.stop();
    void node.node.close({ goodbye: true });
  };
  let cancelled!: (e: Error) => void;
  const stop = new Promise<never>((_, reject) => (cancelled = reject));
  stop.catch(() => {});
  // The other device closed after showing the words: nothing more will come. A grace period
  // first, since its goodbye (through the server) can overtake its last message.
  let hostLeft: ReturnType<typeof setTimeout> | undefined;
  node.node.members.on('leave', ({ id }) => {
    if (id !== hostId) return;
    clearTimeout(hostLeft);
    hostLeft = setTimeout(() => {
      // A host that went quiet for a moment (a frozen page) and came back is still waited for.
      if (hostId !== undefined && node.node.members.isAlive(hostId)) return;
      cancelled(
        new PairingError(
          'PAIRING_HOST_LEFT',
          'the other device left before approving this one; start pairing again',
        ),
      );
    }, HOST_LEFT_GRACE_MS);
  });
  const done = Promise.race([guest!.result, stop])
    .then((r) => session.signInWithPairing(r, deviceName))
    .finally(leave);
  done.catch(() => {});
  return {
    link: pairLink(location.origin, location.pathname, key),
    words,
    done,
    cancel: () => cancelled(new PairingError('PAIRING_CANCELLED', 'pairing was cancelled here')),
  };
}

export interface HostPairing extends PairingOffer {
  /** Leaves the rendezvous mesh (after approve or reject). */
  close(): void;
}

/**
 * The enrolled device's side: joins the link's mesh, waits for the new device, and returns
 * the offer to show (words, device name) with approve and reject.
 */
export async function pairAsHost(
  session: AccountSession,
  identity: DeviceIdentity,
  key: string,
  opts: { timeoutMs?: number } = {},
): Promise<HostPairing> {
  if (!session.current()) {
    throw new PairingError(
      'PAIRING_STATE',
      'this browser is not signed in: pair from a device that has the account',
    );
  }
  const node = await joinRendezvous(key, identity);
  const close = (): void => {
    node.stop();
    void node.node.close({ goodbye: true });
  };
  try {
    const guestId = await firstOther(node, identity.deviceId, opts.timeoutMs ?? 60_000);
    const offer = await pairWithGuest(
      node.node.bus,
      crypto.subtle,
      (n) => crypto.getRandomValues(new Uint8Array(n)),
      guestId,
      session.pairingSource(),
    );
    return { ...offer, close };
  } catch (e) {
    close();
    throw e;
  }
}

/** The first member of the rendezvous mesh on another device. */
function firstOther(s: StartedNode, selfDevice: string, timeoutMs: number): Promise<string> {
  const other = (): string | undefined =>
    s.node.members
      .alive()
      .map((m) => m.id)
      .find((id) => deviceOfNode(id) !== selfDevice);
  const now = other();
  if (now) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(
        new PairingError(
          'PAIRING_STATE',
          `the new device did not connect within ${Math.round(timeoutMs / 1000)} s; open a fresh link`,
        ),
      );
    }, timeoutMs);
    const off = s.node.members.on('join', () => {
      const id = other();
      if (!id) return;
      clearTimeout(timer);
      off();
      resolve(id);
    });
  });
}
