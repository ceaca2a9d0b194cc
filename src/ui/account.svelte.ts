import type { AccountInfo } from '../core/account/account-session.ts';
import type { BrowserApp } from '../platform/browser-app.ts';
import { PERSONAL_ROUTE } from '../sdk/fragment.ts';

/**
 * The Account view's state: the signed-in account (or none), the recovery code right after
 * creation (held only in this object until the user leaves the screen), and the forms' errors
 * with their codes.
 */
export interface ShownError {
  code: string;
  message: string;
}

function shown(e: unknown): ShownError {
  const code = (e as { code?: unknown } | null)?.code;
  return {
    code: typeof code === 'string' ? code : 'ERROR',
    message: e instanceof Error ? e.message : String(e),
  };
}

export class AccountState {
  info = $state<AccountInfo | null>(null);
  loading = $state(true);
  busy = $state(false);
  error = $state<ShownError | undefined>(undefined);
  /** Set once by `create`; cleared when the user confirms they kept it. */
  recoveryCode = $state<string | undefined>(undefined);
  notice = $state<string | undefined>(undefined);
  /** Whether this tab runs in the personal mesh (false until it restarts after sign-in). */
  personal = $state(false);

  constructor(readonly app?: BrowserApp) {
    if (!app) {
      this.loading = false;
      return;
    }
    this.personal = app.personal();
    void app.account.then(
      (s) => {
        this.info = s.current();
        if (s.loadError) this.error = shown(s.loadError);
        s.onChange((i) => (this.info = i));
        this.loading = false;
      },
      (e: unknown) => {
        this.error = shown(e);
        this.loading = false;
      },
    );
    void app.started.then(() => (this.personal = app.personal())).catch(() => {});
  }

  async #run(f: () => Promise<void>): Promise<boolean> {
    this.busy = true;
    this.error = undefined;
    this.notice = undefined;
    try {
      await f();
      return true;
    } catch (e) {
      this.error = shown(e);
      return false;
    } finally {
      this.busy = false;
    }
  }

  create(name: string): Promise<boolean> {
    return this.#run(async () => {
      const r = await window.wos.account.create(name);
      this.recoveryCode = r.recoveryCode;
    });
  }

  async signIn(handle: string, passphrase: string): Promise<void> {
    if (await this.#run(async () => void (await window.wos.account.signIn({ handle, passphrase }))))
      this.enterPersonalMesh();
  }

  async signInWithCode(recoveryCode: string, handle: string): Promise<void> {
    const h = handle.trim();
    const ok = await this.#run(
      async () =>
        void (await window.wos.account.signIn(h ? { recoveryCode, handle: h } : { recoveryCode })),
    );
    if (ok) this.enterPersonalMesh();
  }

  async setPassphrase(passphrase: string, current: string): Promise<boolean> {
    return this.#run(async () => {
      await window.wos.account.setPassphrase(passphrase, current ? { current } : {});
      this.notice = 'Passphrase saved. Sign in on other devices with your handle and it.';
    });
  }

  async signOut(): Promise<void> {
    if (await this.#run(() => window.wos.account.signOut())) {
      // Back to a mesh of this tab's own, with the device's own storage key.
      location.hash = '';
      location.reload();
    }
  }

  /** Forgets the recovery code (the user kept it) and moves to the personal mesh. */
  keptRecoveryCode(): void {
    this.recoveryCode = undefined;
    this.enterPersonalMesh();
  }

  enterPersonalMesh(): void {
    location.hash = PERSONAL_ROUTE;
    location.reload();
  }
}
