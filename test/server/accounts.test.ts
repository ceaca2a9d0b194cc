import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  rmSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseLogin, parseRegister } from '../../signaling-server/accounts/requests.ts';
import { AccountService } from '../../signaling-server/accounts/service.ts';
import { AccountMetrics } from '../../signaling-server/accounts/metrics.ts';
import { resolveAccountOptions } from '../../signaling-server/accounts/options.ts';
import { AccountStore } from '../../signaling-server/accounts/store.ts';
import {
  api,
  b64,
  challenge,
  client,
  deleteBody,
  json,
  KDF,
  newAccount,
  register,
  registerBody,
  seal,
  signIn,
  start,
  updateBody,
} from './account-helpers.ts';
import { closeAll } from './helpers.ts';

afterEach(closeAll);

function tmpDb(): string {
  return path.join(mkdtempSync(path.join(tmpdir(), 'wos-accounts-')), 'data', 'wos.sqlite');
}

/** Upper case with full-width digits: the same handle key. */
const shouty = (h: string): string =>
  h.toUpperCase().replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));

describe('account API round trips', () => {
  it('register → params → login opens the secret; metrics count it', async () => {
    const s = await start();
    const a = await newAccount('alice');
    const reg = await register(s, a);
    expect(reg.status).toBe(201);
    expect(reg.headers.get('cache-control')).toBe('no-store');
    expect(await json(reg)).toMatchObject({ v: 1, handle: a.handle });

    const params = await json(await api(s, 'params', { handle: a.handle }));
    expect(params).toEqual({ v: 1, salt: b64(a.c.salt), kdf: KDF });

    const login = await api(s, 'login', { handle: a.handle, loginKey: b64(a.c.loginKey) });
    expect(login.status).toBe(200);
    expect(await json(login)).toEqual({
      v: 1,
      handle: a.handle,
      accountKey: b64(a.accountKey),
      sealedSecret: b64(a.sealed),
    });
    expect(await signIn(s, a.handle, a.passphrase)).toEqual(a.secret);
    // Handles are case- and width-insensitive.
    expect(await signIn(s, shouty(a.handle), a.passphrase)).toEqual(a.secret);

    expect(s.metrics().accounts).toMatchObject({
      accounts: 1,
      registrations: 1,
      logins: { ok: 3, failed: 0, limited: 0 },
    });
    const text = await (await fetch(`${s.base}/metrics`)).text();
    expect(text).toContain('wos_accounts 1\n');
    expect(text).toContain('wos_account_logins_ok_total 3\n');
    expect(text).toContain('wos_account_registrations_total 1\n');
  });

  it('refuses a taken handle (any case) and a taken account key with 409', async () => {
    const s = await start();
    const a = await newAccount('bob');
    expect((await register(s, a)).status).toBe(201);
    // The same account again, the handle in another case: the handle is taken.
    const again = await register(s, { ...a, handle: shouty(a.handle) });
    expect(again.status).toBe(409);
    expect((await json(again)).error).toMatchObject({ code: 'HANDLE_TAKEN' });
    // The same account key under another name.
    const sameKey = await register(s, await newAccount('carol', 'x passphrase', a.key));
    expect(sameKey.status).toBe(409);
    expect((await json(sameKey)).error).toMatchObject({ code: 'ACCOUNT_KEY_TAKEN' });
    expect(s.metrics().accounts.accounts).toBe(1);
  });

  it('a wrong key and an unknown handle look the same; fake params are stable', async () => {
    const db = tmpDb();
    let s = await start({ db });
    const a = await newAccount('dora');
    await register(s, a);
    const wrong = await api(s, 'login', { handle: a.handle, loginKey: b64(randomBytes(32)) });
    const unknown = await api(s, 'login', {
      handle: 'nobody#0000',
      loginKey: b64(randomBytes(32)),
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const wrongBody = await wrong.text();
    expect(await unknown.text()).toBe(wrongBody);
    expect(JSON.parse(wrongBody)).toEqual({
      error: { code: 'LOGIN_FAILED', message: 'unknown handle or wrong passphrase' },
    });
    expect([...wrong.headers.keys()].sort()).toEqual([...unknown.headers.keys()].sort());

    const p1 = await json(await api(s, 'params', { handle: 'nobody#0000' }));
    const p2 = await json(await api(s, 'params', { handle: 'NOBODY#0000' }));
    const other = await json(await api(s, 'params', { handle: 'someone#1111' }));
    expect(p1).toEqual(p2);
    expect(Buffer.from(p1.salt as string, 'base64url')).toHaveLength(16);
    expect(p1.kdf).toEqual({ N: 65536, r: 8, p: 1 });
    expect(other.salt).not.toBe(p1.salt);
    // Same shape as a real answer.
    expect(Object.keys(p1).sort()).toEqual(
      Object.keys(await json(await api(s, 'params', { handle: a.handle }))).sort(),
    );
    // Stable across a restart (the secret it is derived under lives in the database).
    await s.close();
    s = await start({ db });
    expect(await json(await api(s, 'params', { handle: 'nobody#0000' }))).toEqual(p1);
    expect(s.metrics().accounts.logins).toEqual({ ok: 0, failed: 0, limited: 0 });
  });

  it('update changes the passphrase; delete removes the account', async () => {
    const s = await start();
    const a = await newAccount('erin', 'old passphrase');
    await register(s, a);
    const next = client('new passphrase');
    const sealed = seal(next.wrapKey, a.secret);
    const badUpdate = await api(
      s,
      'update',
      await updateBody(a, await challenge(s), randomBytes(32), next, sealed),
    );
    expect(badUpdate.status).toBe(401);
    const res = await api(
      s,
      'update',
      await updateBody(a, await challenge(s), a.c.loginKey, next, sealed),
    );
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ v: 1, updatedAt: expect.any(Number) });

    const oldLogin = await api(s, 'login', { handle: a.handle, loginKey: b64(a.c.loginKey) });
    expect(oldLogin.status).toBe(401);
    expect(await signIn(s, a.handle, 'new passphrase')).toEqual(a.secret);
    await expect(signIn(s, a.handle, 'old passphrase')).rejects.toThrow(/login 401/);

    const badDelete = await api(s, 'delete', await deleteBody(a, await challenge(s), a.c.loginKey));
    expect(badDelete.status).toBe(401);
    const del = await api(s, 'delete', await deleteBody(a, await challenge(s), next.loginKey));
    expect(del.status).toBe(204);
    expect((await api(s, 'login', { handle: a.handle, loginKey: b64(next.loginKey) })).status).toBe(
      401,
    );
    // The params are now the made-up ones, and the handle is free again.
    const p = await json(await api(s, 'params', { handle: a.handle }));
    expect(p.salt).not.toBe(b64(next.salt));
    expect((await register(s, a)).status).toBe(201);
    expect(s.metrics().accounts).toMatchObject({ accounts: 1, updates: 1, deletes: 1 });
  });
});

describe('account rate limits', () => {
  it('limits all account requests per IP', async () => {
    const s = await start({ rate: { ratePerSec: 0.01, burst: 3 } }, { trustProxy: true });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    for (let i = 0; i < 3; i++)
      expect((await api(s, 'params', { handle: `h${i}` }, from('10.0.0.1'))).status).toBe(200);
    const limited = await api(s, 'login', { handle: 'h', loginKey: 'x' }, from('10.0.0.1'));
    expect(limited.status).toBe(429);
    expect((await json(limited)).error).toMatchObject({ code: 'RATE_LIMITED' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(90);
    // Another client is unaffected.
    expect((await api(s, 'params', { handle: 'h' }, from('10.0.0.2'))).status).toBe(200);
    expect(s.metrics().accounts.ipLimited).toBe(1);
    expect(await (await fetch(`${s.base}/metrics`)).text()).toContain(
      'wos_account_ip_limited_total 1\n',
    );
  });
});

describe('account request validation', () => {
  it('gives specific 400 errors for malformed bodies', async () => {
    const s = await start({ rate: { ratePerSec: 1000, burst: 1000 } });
    const hana = await newAccount('hana');
    const good = await registerBody(hana, await challenge(s));
    const k = b64(randomBytes(32));
    const cases: [string, unknown, number, string, string?][] = [
      ['register', { ...good, loginKey: undefined }, 400, 'MISSING_FIELD', 'loginKey'],
      ['register', { ...good, extra: 1 }, 400, 'UNKNOWN_FIELD', 'extra'],
      ['register', { ...good, handle: 42 }, 400, 'INVALID_TYPE', 'handle'],
      ['register', { ...good, handle: '' }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', { ...good, handle: 'x'.repeat(41) }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', { ...good, handle: 'a\u0000b' }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', { ...good, handle: ' alice' }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', { ...good, handle: 'al\u200bice' }, 400, 'INVALID_HANDLE', 'handle'],
      [
        'register',
        { ...good, accountKey: b64(randomBytes(31)) },
        400,
        'INVALID_LENGTH',
        'accountKey',
      ],
      ['register', { ...good, salt: b64(randomBytes(8)) }, 400, 'INVALID_LENGTH', 'salt'],
      ['register', { ...good, salt: b64(randomBytes(33)) }, 400, 'INVALID_LENGTH', 'salt'],
      ['register', { ...good, loginKey: `${k}=` }, 400, 'INVALID_BASE64URL', 'loginKey'],
      [
        'register',
        { ...good, loginKey: k.replace(/^./, '+') },
        400,
        'INVALID_BASE64URL',
        'loginKey',
      ],
      // 43 chars encode 32 bytes with 2 spare bits: a non-zero spare bit is not canonical.
      [
        'register',
        { ...good, loginKey: k.slice(0, 42) + 'B' },
        400,
        'INVALID_BASE64URL',
        'loginKey',
      ],
      ['register', { ...good, loginKey: 'A' }, 400, 'INVALID_BASE64URL', 'loginKey'],
      ['register', { ...good, loginKey: [1, 2] }, 400, 'INVALID_TYPE', 'loginKey'],
      [
        'register',
        { ...good, sealedSecret: b64(randomBytes(1025)) },
        400,
        'INVALID_LENGTH',
        'sealedSecret',
      ],
      [
        'register',
        { ...good, sealedSecret: 'A'.repeat(3000) },
        400,
        'INVALID_LENGTH',
        'sealedSecret',
      ],
      ['register', { ...good, kdf: 'scrypt' }, 400, 'INVALID_TYPE', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, alg: 'pbkdf2' } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { r: 8, p: 1 } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, N: 1000 } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, N: 2 ** 21 } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, N: 2 ** 20, r: 16 } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, p: 0 } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, kdf: { ...KDF, nested: { a: 1 } } }, 400, 'INVALID_KDF', 'kdf'],
      ['register', { ...good, v: 3 }, 400, 'INVALID_TYPE', 'v'],
      ['register', { ...good, v: 1 }, 400, 'UNSIGNED_REQUEST'],
      [
        'register',
        { ...good, v: undefined, nonce: undefined, sig: undefined },
        400,
        'UNSIGNED_REQUEST',
      ],
      ['register', { ...good, nonce: undefined }, 400, 'MISSING_FIELD', 'nonce'],
      ['register', { ...good, sig: b64(randomBytes(63)) }, 400, 'INVALID_LENGTH', 'sig'],
      ['register', { ...good, nonce: b64(randomBytes(41)) }, 400, 'INVALID_LENGTH', 'nonce'],
      ['register', { ...good, handle: 'hana' }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', { ...good, handle: 'ha na#abcd' }, 400, 'INVALID_HANDLE', 'handle'],
      ['register', [good], 400, 'BAD_REQUEST'],
      ['register', '{"handle":', 400, 'MALFORMED_JSON'],
      ['register', '"just a string"', 400, 'MALFORMED_JSON'],
      ['register', { ...good, sealedSecret: 'A'.repeat(5000) }, 413, 'PAYLOAD_TOO_LARGE'],
      ['params', {}, 400, 'MISSING_FIELD', 'handle'],
      ['login', { handle: 'a' }, 400, 'MISSING_FIELD', 'loginKey'],
      ['login', { handle: 'a', loginKey: b64(randomBytes(16)) }, 400, 'INVALID_LENGTH', 'loginKey'],
      ['update', { v: 2, handle: 'a', loginKey: k }, 400, 'MISSING_FIELD', 'newSalt'],
      ['update', { handle: 'a', loginKey: k }, 400, 'UNSIGNED_REQUEST'],
      ['delete', { handle: 'a', loginKey: k }, 400, 'UNSIGNED_REQUEST'],
      ['delete', { ...good, v: 2, handle: null }, 400, 'UNKNOWN_FIELD', 'accountKey'],
      [
        'delete',
        { v: 2, handle: null, loginKey: k, nonce: good.nonce, sig: good.sig },
        400,
        'INVALID_TYPE',
        'handle',
      ],
      ['challenge', { nonce: 'x' }, 400, 'UNKNOWN_FIELD', 'nonce'],
      ['nope', { handle: 'a' }, 404, 'NOT_FOUND'],
    ];
    for (const [op, body, status, code, field] of cases) {
      const res = await api(s, op, body);
      const got = await json(res);
      expect({ op, body, status: res.status, got }).toMatchObject({
        status,
        got: { error: { code, ...(field ? { field } : {}) } },
      });
    }
    const form = await fetch(`${s.base}/api/account/login`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(form.status).toBe(415);
    const get = await fetch(`${s.base}/api/account/login`);
    expect(get.status).toBe(404);
    // Nothing got stored, and the kdf given is returned verbatim when valid.
    expect(s.metrics().accounts.accounts).toBe(0);
    const extraKdf = { alg: 'scrypt', N: 2048, r: 8, p: 2, dkLen: 64, v: 'x' };
    const plainKdf = { N: 2048, r: 8, p: 1 }; // the client sends no alg
    const ola = await newAccount('ola', 'ola passphrase', undefined, plainKdf);
    expect((await register(s, ola)).status).toBe(201);
    expect((await json(await api(s, 'params', { handle: ola.handle }))).kdf).toEqual(plainKdf);
    const hana2 = await newAccount('hana', 'hana passphrase', hana.key, extraKdf);
    expect((await register(s, hana2)).status).toBe(201);
    expect((await json(await api(s, 'params', { handle: hana.handle }))).kdf).toEqual(extraKdf);
  });
});

describe('account database file', () => {
  it('survives a restart; written atomically with mode 0600; secure against remnants', async () => {
    const db = tmpDb();
    let s = await start({ db });
    expect(s.accountDb).toBe(db);
    expect(existsSync(db)).toBe(false); // nothing stored yet, no file
    const a = await newAccount('ivy');
    await register(s, a);
    expect(statSync(db).mode & 0o777).toBe(0o600);
    // A failed login is counted in the file, so it survives restarts too.
    await api(s, 'login', { handle: a.handle, loginKey: b64(randomBytes(32)) });
    await s.close();

    s = await start({ db, maxLoginFailures: 2 });
    expect(s.metrics().accounts.accounts).toBe(1);
    expect(await signIn(s, a.handle, a.passphrase)).toEqual(a.secret);
    await api(s, 'login', { handle: a.handle, loginKey: b64(randomBytes(32)) });
    await api(s, 'login', { handle: a.handle, loginKey: b64(randomBytes(32)) });
    await s.close();
    s = await start({ db, maxLoginFailures: 2 });
    expect((await api(s, 'login', { handle: a.handle, loginKey: b64(a.c.loginKey) })).status).toBe(
      429,
    );
    expect(readdirSync(path.dirname(db))).toEqual(['wos.sqlite']); // no temp files left
  });

  it('rolls a change back when the file cannot be written', async () => {
    const db = tmpDb();
    const s = await start({ db });
    // The database directory cannot be created once the server runs: a file is in the way.
    writeFileSync(path.dirname(db), 'x');
    const a = await newAccount('jack');
    const res = await register(s, a);
    expect(res.status).toBe(500);
    expect((await json(res)).error).toMatchObject({ code: 'STORAGE_FAILED' });
    expect(s.metrics().accounts.accounts).toBe(0);
    // Rolled back in memory too: the params are the made-up ones, not the registered salt.
    const p = await json(await api(s, 'params', { handle: a.handle }));
    expect(p.salt).not.toBe(b64(a.c.salt));
    // A failed login that cannot be counted fails closed.
    const login = await api(s, 'login', { handle: a.handle, loginKey: b64(a.c.loginKey) });
    expect(login.status).toBe(500);
    // Once the directory can be made, the same registration goes through.
    rmSync(path.dirname(db));
    expect((await register(s, a)).status).toBe(201);
    expect(await signIn(s, a.handle, a.passphrase)).toEqual(a.secret);
  });

  it('refuses to start on a file that is not a database', async () => {
    const db = tmpDb();
    const dir = path.dirname(db);
    mkdirSync(dir, { recursive: true });
    writeFileSync(db, 'this is not sqlite '.repeat(100));
    await expect(start({ db })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
  });

  it('holds no login key, passphrase, wrap key or plaintext; old credentials are wiped', async () => {
    const db = tmpDb();
    const s = await start({ db });
    const a = await newAccount('kim');
    await register(s, a);
    expect(await signIn(s, a.handle, a.passphrase)).toEqual(a.secret);
    await api(s, 'login', { handle: a.handle, loginKey: b64(randomBytes(32)) });
    const file = readFileSync(db);
    // Positive control: what the server must keep is there.
    expect(file.includes(a.sealed)).toBe(true);
    expect(file.includes(a.c.salt)).toBe(true);
    const forbidden = (c: ReturnType<typeof client>, passphrase: string, secret: Buffer) => [
      c.loginKey,
      Buffer.from(b64(c.loginKey)),
      Buffer.from(c.loginKey.toString('hex')),
      c.wrapKey,
      Buffer.from(passphrase),
      secret,
      Buffer.from('SECRET-MARKER-'),
    ];
    for (const f of forbidden(a.c, a.passphrase, a.secret)) expect(file.includes(f)).toBe(false);

    const next = client('a brand new passphrase');
    const sealed = seal(next.wrapKey, a.secret);
    const up = await api(
      s,
      'update',
      await updateBody(a, await challenge(s), a.c.loginKey, next, sealed),
    );
    expect(up.status).toBe(200);
    const after = readFileSync(db);
    expect(after.includes(sealed)).toBe(true);
    expect(after.includes(a.sealed)).toBe(false); // secure_delete: no remnant of the old one
    expect(after.includes(a.c.salt)).toBe(false);
    for (const f of forbidden(next, 'a brand new passphrase', a.secret))
      expect(after.includes(f)).toBe(false);
    await api(s, 'delete', await deleteBody(a, await challenge(s), next.loginKey));
    const gone = readFileSync(db);
    expect(gone.includes(sealed)).toBe(false);
    expect(gone.includes(a.accountKey)).toBe(false);
    // The request log has paths only.
    const log = s.logs.join('\n');
    expect(log).toContain('POST /api/account/login 200');
    for (const f of [b64(a.c.loginKey), b64(next.loginKey), b64(a.sealed), a.passphrase, 'kim#'])
      expect(log).not.toContain(f);
  });
});

describe('account service', () => {
  it('zeroes every login key buffer it receives, on success and failure', async () => {
    const store = await AccountStore.open(':memory:');
    const o = resolveAccountOptions({ db: ':memory:' });
    const service = new AccountService(store, o, new AccountMetrics(() => store.count));
    const a = await newAccount('lee');
    const reg = parseRegister(await registerBody(a, b64(service.challenge().nonce)));
    await service.register(reg);
    expect(reg.loginKey.every((x) => x === 0)).toBe(true);
    const ok = parseLogin({ handle: a.handle, loginKey: b64(a.c.loginKey) });
    expect(ok.loginKey.equals(a.c.loginKey)).toBe(true);
    expect(service.login(ok, '127.0.0.1').handle).toBe(a.handle);
    expect(ok.loginKey.every((x) => x === 0)).toBe(true);
    const bad = parseLogin({ handle: a.handle, loginKey: b64(randomBytes(32)) });
    expect(() => service.login(bad, '127.0.0.1')).toThrow(/unknown handle or wrong passphrase/);
    expect(bad.loginKey.every((x) => x === 0)).toBe(true);
    const unknown = parseLogin({ handle: 'nobody', loginKey: b64(randomBytes(32)) });
    expect(() => service.login(unknown, '127.0.0.1')).toThrow(/unknown handle or wrong passphrase/);
    expect(unknown.loginKey.every((x) => x === 0)).toBe(true);
    store.close();
  });
});
