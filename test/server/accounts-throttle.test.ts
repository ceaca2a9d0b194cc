import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { networkOf } from '../../signaling-server/accounts/throttle.ts';
import {
  api,
  b64,
  challenge,
  client,
  json,
  newAccount,
  register,
  seal,
  signIn,
  start,
  updateBody,
} from './account-helpers.ts';
import { closeAll } from './helpers.ts';

afterEach(closeAll);

const from = (ip: string) => ({ 'x-forwarded-for': ip });
const WINDOW = 15 * 60_000;

describe('login throttle: per (handle, network), never per handle alone', () => {
  it("an attacker's failures lock only its own network; the owner signs in from another", async () => {
    let now = 1_700_000_000_000;
    const s = await start(
      { now: () => now, maxLoginFailures: 5, loginWindowMs: WINDOW, attackThreshold: 50 },
      { trustProxy: true },
    );
    const a = await newAccount('finn');
    await register(s, a);
    const right = { handle: a.handle, loginKey: b64(a.c.loginKey) };
    const guess = (handle: string) => ({ handle, loginKey: b64(randomBytes(32)) });
    const attacker = from('203.0.113.7');
    for (const handle of [a.handle, 'ghost#aaaa']) {
      for (let i = 0; i < 5; i++)
        expect((await api(s, 'login', guess(handle), attacker)).status).toBe(401);
      const locked = await api(s, 'login', guess(handle), attacker);
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toBe('900');
      expect((await json(locked)).error).toMatchObject({
        code: 'LOGIN_RATE_LIMITED',
        message: expect.stringMatching(/from this network/),
      });
    }
    // The owner, elsewhere, is not affected: signs in, and can change the passphrase.
    const owner = from('198.51.100.20');
    expect(await signIn(s, a.handle, a.passphrase, owner)).toEqual(a.secret);
    const next = client('new passphrase');
    const up = await updateBody(
      a,
      await challenge(s, owner),
      a.c.loginKey,
      next,
      seal(next.wrapKey, a.secret),
    );
    expect((await api(s, 'update', up, owner)).status).toBe(200);
    // From the attacker's own network even the right key waits (documented): checking it
    // there would let the attacker keep guessing.
    const rightNow = { handle: a.handle, loginKey: b64(next.loginKey) };
    expect((await api(s, 'login', rightNow, attacker)).status).toBe(429);
    // The owner's success cleared only the owner's count, not the attacker's.
    now += 10 * 60_000;
    const later = await api(s, 'login', rightNow, attacker);
    expect(later.status).toBe(429);
    expect(later.headers.get('retry-after')).toBe('300');
    now += 5 * 60_000;
    expect((await api(s, 'login', rightNow, attacker)).status).toBe(200);
    expect(s.metrics().accounts.logins).toEqual({ ok: 3, failed: 10, limited: 4 });
    expect(right.loginKey).not.toBe(rightNow.loginKey);
  });

  it('a distributed guess (many networks) tightens every network to one failure; a clean one still signs in', async () => {
    const now = 1_700_000_000_000;
    const s = await start(
      { now: () => now, maxLoginFailures: 5, attackThreshold: 12, attackMaxFailures: 1 },
      { trustProxy: true },
    );
    const a = await newAccount('gina');
    await register(s, a);
    const guess = { handle: a.handle, loginKey: b64(randomBytes(32)) };
    // Below the threshold, a network with one failure may try again.
    expect((await api(s, 'login', guess, from('192.0.2.1'))).status).toBe(401);
    expect((await api(s, 'login', guess, from('192.0.2.1'))).status).toBe(401);
    // Ten more networks, one guess each: 12 failures in the window, the handle is under attack.
    for (let i = 10; i < 20; i++)
      expect((await api(s, 'login', guess, from(`192.0.2.${i}`))).status).toBe(401);
    // Now every network that failed is refused without a check, the right key included…
    expect((await api(s, 'login', guess, from('192.0.2.1'))).status).toBe(429);
    expect(await signIn(s, a.handle, a.passphrase, from('192.0.2.11')).catch(String)).toMatch(
      /login 429/,
    );
    // …a fresh network gets exactly one wrong try…
    expect((await api(s, 'login', guess, from('192.0.2.99'))).status).toBe(401);
    expect((await api(s, 'login', guess, from('192.0.2.99'))).status).toBe(429);
    // …and the owner's correct login from a network that has not failed goes through.
    expect(await signIn(s, a.handle, a.passphrase, from('198.51.100.5'))).toEqual(a.secret);
  });

  it('counts IPv6 clients per /64', async () => {
    const s = await start({ maxLoginFailures: 2 }, { trustProxy: true });
    const a = await newAccount('ivan');
    await register(s, a);
    const guess = { handle: a.handle, loginKey: b64(randomBytes(32)) };
    expect((await api(s, 'login', guess, from('2001:db8:0:1::1'))).status).toBe(401);
    expect((await api(s, 'login', guess, from('2001:db8:0:1:ffff::2'))).status).toBe(401);
    // Another address of the same /64: the same network.
    expect((await api(s, 'login', guess, from('2001:db8::1:abcd:0:0:3'))).status).toBe(429);
    expect(await signIn(s, a.handle, a.passphrase, from('2001:db8:0:2::1'))).toEqual(a.secret);

    expect(networkOf('2001:db8:0:1::1')).toBe('2001:db8:0:1::/64');
    expect(networkOf('2001:0db8:0000:0001:ffff::2')).toBe('2001:db8:0:1::/64');
    expect(networkOf('::1')).toBe('0:0:0:0::/64');
    expect(networkOf('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(networkOf('203.0.113.7')).toBe('203.0.113.7');
  });

  it('the per-IP bucket still limits every account request, challenges included', async () => {
    const s = await start({ rate: { ratePerSec: 0.01, burst: 3 } }, { trustProxy: true });
    await challenge(s, from('10.0.0.1'));
    await challenge(s, from('10.0.0.1'));
    await challenge(s, from('10.0.0.1'));
    const limited = await api(s, 'challenge', {}, from('10.0.0.1'));
    expect(limited.status).toBe(429);
    expect((await json(limited)).error).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await api(s, 'challenge', {}, from('10.0.0.2'))).status).toBe(200);
  });
});
