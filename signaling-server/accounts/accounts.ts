import type { Router } from 'express';
import { RateLimiter } from '../rate-limit.ts';
import { accountApi } from './api.ts';
import { AccountMetrics } from './metrics.ts';
import { resolveAccountOptions, type AccountOptions } from './options.ts';
import { AccountService } from './service.ts';
import { AccountStore } from './store.ts';

export type { AccountOptions } from './options.ts';
export type { AccountMetricsSnapshot } from './metrics.ts';

export interface Accounts {
  /** Mount at `/api/account`. */
  router: Router;
  metrics: AccountMetrics;
  /** The database file (or `:memory:`). */
  file: string;
  /** Drops idle per-IP buckets (call periodically). */
  sweep(): void;
  close(): void;
}

/** Opens the account database and builds the `/api/account` router. */
export async function openAccounts(
  options: AccountOptions | undefined,
  http: { maxBodyBytes: number; trustProxy: boolean },
): Promise<Accounts> {
  const o = resolveAccountOptions(options);
  const store = await AccountStore.open(o.db);
  const metrics = new AccountMetrics(() => store.count);
  const limiter = new RateLimiter(o.rate, { now: o.now });
  const service = new AccountService(store, o, metrics);
  return {
    router: accountApi({ service, limiter, metrics, ...http }),
    metrics,
    file: store.file,
    sweep: () => limiter.sweep(),
    close: () => store.close(),
  };
}
