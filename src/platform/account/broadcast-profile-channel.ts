import type { ProfileChannel } from '../../core/account/profile-channel.ts';

/**
 * The profile channel (core/account/profile-channel.ts) as a BroadcastChannel: every tab of
 * this browser profile and origin hears what the others post (never its own messages).
 * Undefined where BroadcastChannel is missing: tabs then learn keys and lists on reload.
 */
export function broadcastProfileChannel(name = 'wos-account'): ProfileChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  const channel = new BroadcastChannel(name);
  return {
    post: (message) => channel.postMessage(message),
    subscribe: (fn) => {
      const on = (e: MessageEvent): void => fn(e.data);
      channel.addEventListener('message', on);
      return () => channel.removeEventListener('message', on);
    },
  };
}
