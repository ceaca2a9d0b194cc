import type { Harness } from './lib/harness.ts';
import { waitReady } from './lib/harness.ts';
import { stat, type Stat } from './lib/stats.ts';

/**
 * Passphrase sign-in in Chromium. A first tab creates an account and sets its passphrase
 * (scrypt N = 2^16, r = 8, p = 1). Per run, a fresh profile (its own browser context) opens
 * WOS and times in the page `wos.account.signIn({ handle, passphrase })`: params from the
 * server, scrypt, login, opening the sealed secret, deriving the account keys, issuing and
 * storing this device's certificate. Then the tab moves to the personal mesh (`#/me`, reload)
 * and the time from the reload to `wos.ready` there is taken too. Issue #5's goal: the sign-in
 * stays under one second on this machine.
 */
export interface AccountSigninResult {
  name: 'account-signin';
  signIn: Stat;
  /** Reload with `#/me` → `wos.ready` in the personal mesh. */
  personalReady: Stat;
}

const PASSPHRASE = 'correct horse battery staple';

export async function runAccountSigninBench(
  h: Harness,
  runs: number,
  log: (line: string) => void,
): Promise<AccountSigninResult> {
  const first = await h.openTab(h.url);
  const handle = await first.page.evaluate(async (p) => {
    const { handle } = await window.wos.account.create('bench');
    await window.wos.account.setPassphrase(p);
    return handle;
  }, PASSPHRASE);
  const signIn: number[] = [];
  const personalReady: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { context, page } = await h.blankPage();
    try {
      await page.goto(h.url);
      await waitReady(page);
      const ms = await page.evaluate(
        async ({ handle, passphrase }) => {
          const t0 = performance.now();
          await window.wos.account.signIn({ handle, passphrase });
          return performance.now() - t0;
        },
        { handle, passphrase: PASSPHRASE },
      );
      await page.evaluate(() => {
        location.hash = '#/me';
      });
      const t0 = Date.now();
      await page.reload();
      await waitReady(page);
      const ready = Date.now() - t0;
      signIn.push(ms);
      personalReady.push(ready);
      log(`run ${i + 1}: sign-in ${ms.toFixed(0)} ms, reload → personal mesh ready ${ready} ms`);
    } finally {
      await context.close();
    }
  }
  return {
    name: 'account-signin',
    signIn: stat('ms', signIn, 0),
    personalReady: stat('ms', personalReady, 0),
  };
}
