/** Counters of the account API, appended to `GET /metrics` and `metrics().accounts`. */
export interface AccountMetricsSnapshot {
  /** Accounts stored. */
  accounts: number;
  registrations: number;
  updates: number;
  deletes: number;
  /** Credential checks (login, update, delete) by outcome. */
  logins: { ok: number; failed: number; limited: number };
  /** Account requests refused by the per-IP bucket. */
  ipLimited: number;
}

export class AccountMetrics {
  registrations = 0;
  updates = 0;
  deletes = 0;
  loginsOk = 0;
  loginsFailed = 0;
  loginsLimited = 0;
  ipLimited = 0;

  constructor(private readonly accounts: () => number) {}

  snapshot(): AccountMetricsSnapshot {
    return {
      accounts: this.accounts(),
      registrations: this.registrations,
      updates: this.updates,
      deletes: this.deletes,
      logins: { ok: this.loginsOk, failed: this.loginsFailed, limited: this.loginsLimited },
      ipLimited: this.ipLimited,
    };
  }

  /** Prometheus text exposition format 0.0.4 (ends with a newline). */
  render(): string {
    const s = this.snapshot();
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const one = (name: string, type: string, help: string, value: number): void =>
      metric(name, type, help, [`${name} ${value}`]);
    one('wos_accounts', 'gauge', 'Accounts with passphrase sign-in stored.', s.accounts);
    one('wos_account_registrations_total', 'counter', 'Accounts registered.', s.registrations);
    one('wos_account_updates_total', 'counter', 'Passphrase changes.', s.updates);
    one('wos_account_deletes_total', 'counter', 'Accounts deleted.', s.deletes);
    one(
      'wos_account_logins_ok_total',
      'counter',
      'Passphrase credential checks (login, update, delete) that succeeded.',
      s.logins.ok,
    );
    one(
      'wos_account_logins_failed_total',
      'counter',
      'Credential checks that failed (unknown handle or wrong key): 401 LOGIN_FAILED.',
      s.logins.failed,
    );
    one(
      'wos_account_logins_limited_total',
      'counter',
      'Credential checks refused for too many failures of the handle: 429 LOGIN_RATE_LIMITED.',
      s.logins.limited,
    );
    one(
      'wos_account_ip_limited_total',
      'counter',
      'Account API requests refused by the per-IP rate limit.',
      s.ipLimited,
    );
    return out.join('\n') + '\n';
  }
}
