import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountStore } from '../../signaling-server/accounts/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wos-store-'));
  dirs.push(dir);
  return join(dir, 'accounts.sqlite');
}

const WINDOW = 15 * 60_000;

describe('account store: login failure windows', () => {
  it('are not written per failure; close (or the next durable change) saves them', async () => {
    const file = dbFile();
    const store = await AccountStore.open(file);
    store.secret('probe'); // a durable change: the file now exists
    const before = readFileSync(file);
    const net = randomBytes(16);
    for (let i = 0; i < 20; i++) store.recordFailure('alice', net, 1000 + i, WINDOW);
    expect(store.failures('alice', net)?.count).toBe(20);
    // A flood of wrong passwords did not rewrite the database file 20 times (not even once).
    expect(readFileSync(file).equals(before)).toBe(true);
    store.close();
    const again = await AccountStore.open(file);
    expect(again.failures('alice', net)?.count).toBe(20);
    again.close();
  });

  it('keep at most the cap, dropping the oldest windows', async () => {
    const store = await AccountStore.open(dbFile(), 50);
    const nets = Array.from({ length: 80 }, () => randomBytes(16));
    nets.forEach((net, i) => store.recordFailure(`h${i}`, net, 1000 + i, WINDOW));
    const kept = nets.filter((net, i) => store.failures(`h${i}`, net) !== undefined);
    expect(kept.length).toBe(50);
    // The newest 50 stay.
    expect(store.failures('h79', nets[79]!)?.count).toBe(1);
    expect(store.failures('h0', nets[0]!)).toBeUndefined();
    store.close();
  });
});
