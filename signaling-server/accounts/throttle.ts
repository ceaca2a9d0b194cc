import { createHmac } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { ResolvedAccountOptions } from './options.ts';
import type { AccountStore } from './store.ts';

/**
 * Online guessing limits for passphrase logins, built so that nobody without the passphrase can
 * lock the owner out (docs/ACCOUNTS.md, threat model):
 *
 * - Failures are counted per (handle, network): a network (an IPv4 address, or the /64 of an
 *   IPv6 one, which one subscriber gets whole) that failed `maxLoginFailures` times within the
 *   window is refused for that handle **without its key being checked**, so it cannot keep
 *   guessing. Other networks are unaffected: an attacker locks out only itself (and whoever
 *   shares its address).
 * - When a handle collects `attackThreshold` failures from all networks in the window (a
 *   distributed guess), each network gets only `attackMaxFailures` (1): the attacker's guess rate
 *   becomes one per address per window, while the owner's correct login from a network that has
 *   not failed still goes through.
 * - A success clears that network's count only, never the others'.
 *
 * Networks are stored as a keyed hash (server secret), not as addresses.
 */
export class LoginThrottle {
  /** Made on first use (the database file is only created by the first change). */
  private secret: Buffer | undefined;

  constructor(
    private readonly store: AccountStore,
    private readonly o: ResolvedAccountOptions,
  ) {}

  /** The stored form of the caller's network. */
  source(ip: string): Buffer {
    this.secret ??= this.store.secret('login-source');
    return createHmac('sha256', this.secret)
      .update('wos-login-source-v1\0')
      .update(networkOf(ip))
      .digest()
      .subarray(0, 16);
  }

  /** 0 when `source` may try a key for `handleKey` now, else the seconds to wait. */
  wait(handleKey: string, source: Uint8Array, now: number): number {
    const windowMs = this.o.loginWindowMs;
    const w = this.store.failures(handleKey, source);
    if (!w || now - w.windowStart >= windowMs) return 0;
    const total = this.store.handleFailures(handleKey, now - windowMs);
    const limit =
      total >= this.o.attackThreshold
        ? Math.min(this.o.attackMaxFailures, this.o.maxLoginFailures)
        : this.o.maxLoginFailures;
    if (w.count < limit) return 0;
    return Math.max(1, Math.ceil((w.windowStart + windowMs - now) / 1000));
  }

  failed(handleKey: string, source: Uint8Array, now: number): void {
    this.store.recordFailure(handleKey, source, now, this.o.loginWindowMs);
  }

  succeeded(handleKey: string, source: Uint8Array): void {
    this.store.clearFailures(handleKey, source);
  }
}

/** An IPv4 address as it is; an IPv6 address as its /64 (`2001:db8:0:1::/64`). */
export function networkOf(ip: string): string {
  const addr = ip.split('%')[0] ?? ip;
  if (!isIPv6(addr)) return addr;
  const halves = addr.split('::');
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  // A trailing dotted IPv4 part fills two groups.
  const width = (g: string[]): number => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const zeros = halves.length > 1 ? 8 - width(head) - width(tail) : 0;
  const all = [...head, ...Array<string>(zeros).fill('0'), ...tail];
  return `${all
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
