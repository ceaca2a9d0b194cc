import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  accountKeyPair,
  api,
  b64,
  challenge,
  client,
  deleteBody,
  json,
  newAccount,
  register,
  registerBody,
  seal,
  signIn,
  start,
  unb64,
  updateBody,
} from './account-helpers.ts';
import { closeAll } from './helpers.ts';

afterEach(closeAll);

async function code(res: Response): Promise<[number, unknown]> {
  const body = await json(res);
  return [res.status, (body.error as { code?: string } | undefined)?.code];
}

describe('signed registration (request v2)', () => {
  it('accepts a registration signed by the key its tag names; stores that key', async () => {
    const s = await start();
    const c = await json(await api(s, 'challenge', {}));
    expect(Object.keys(c).sort()).toEqual(['expiresAt', 'nonce', 'v']);
    expect(unb64(c.nonce)).toHaveLength(40);
    const a = await newAccount('alice');
    expect(a.handle).toMatch(/^alice#[a-z2-7]{4}$/);
    const reg = await api(s, 'register', await registerBody(a, String(c.nonce)));
    expect(reg.status).toBe(201);
    const login = await json(
      await api(s, 'login', { handle: a.handle, loginKey: b64(a.c.loginKey) }),
    );
    expect(login.accountKey).toBe(b64(a.accountKey));
  });

  it('refuses a bad signature, a key not matching the tag, and each tampered field', async () => {
    const s = await start({ rate: { ratePerSec: 1000, burst: 1000 } });
    const alice = await newAccount('alice');
    const mallory = accountKeyPair();

    // Signed by another key than the accountKey sent (a squatter without Alice's key).
    const forged = await registerBody(alice, await challenge(s), mallory);
    expect(await code(await api(s, 'register', forged))).toEqual([
      400,
      'REGISTRATION_BAD_SIGNATURE',
    ]);
    // Alice's handle with the squatter's own key, correctly signed: the tag is not that key's.
    const squat = await newAccount('alice', 'mallory passphrase', mallory);
    const squatBody = await registerBody({ ...squat, handle: alice.handle }, await challenge(s));
    const mismatch = await api(s, 'register', squatBody);
    expect(await code(mismatch)).toEqual([400, 'HANDLE_TAG_MISMATCH']);
    // Alice's key under another name, to take it first (ACCOUNT_KEY_TAKEN for Alice): refused.
    const grab = await newAccount('alice2', 'mallory passphrase', alice.key);
    const grabBody = await registerBody(grab, await challenge(s), mallory);
    expect(await code(await api(s, 'register', grabBody))).toEqual([
      400,
      'REGISTRATION_BAD_SIGNATURE',
    ]);

    const good = await registerBody(alice, await challenge(s));
    const other = client('another passphrase');
    const tampered: Record<string, unknown>[] = [
      { salt: b64(other.salt) },
      { kdf: { ...alice.c.kdf, N: 2048 } },
      { loginKey: b64(other.loginKey) },
      { sealedSecret: b64(randomBytes(61)) },
      { handle: alice.handle.toUpperCase() },
      { nonce: await challenge(s) },
    ];
    for (const t of tampered) {
      const res = await api(s, 'register', { ...good, ...t });
      expect({ t, got: await code(res) }).toEqual({ t, got: [400, 'REGISTRATION_BAD_SIGNATURE'] });
    }
    expect(s.metrics().accounts.accounts).toBe(0);
    // The untampered one still goes through (failed attempts did not use its challenge).
    expect((await api(s, 'register', good)).status).toBe(201);
  });

  it('kdf key order does not matter: the signature covers the parameters, not the JSON', async () => {
    const s = await start();
    const a = await newAccount('kay');
    const body = await registerBody(a, await challenge(s));
    const kdf = body.kdf as Record<string, unknown>;
    const reordered = Object.fromEntries(Object.entries(kdf).reverse());
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(kdf));
    expect((await api(s, 'register', { ...body, kdf: reordered })).status).toBe(201);
  });

  it('refuses unsigned (v1) requests with UNSIGNED_REQUEST', async () => {
    const s = await start();
    const a = await newAccount('old');
    const v1 = {
      handle: a.handle,
      accountKey: b64(a.accountKey),
      salt: b64(a.c.salt),
      kdf: a.c.kdf,
      loginKey: b64(a.c.loginKey),
      sealedSecret: b64(a.sealed),
    };
    for (const body of [v1, { ...v1, v: 1 }]) {
      const res = await api(s, 'register', body);
      const got = await json(res);
      expect(res.status).toBe(400);
      expect(got.error).toMatchObject({
        code: 'UNSIGNED_REQUEST',
        message: expect.stringMatching(/register must be request v2, signed by the account key/),
      });
    }
  });
});

describe('challenges stop replays', () => {
  it('a register, update or delete cannot be replayed; stale and forged nonces are refused', async () => {
    let now = 1_700_000_000_000;
    const s = await start({ now: () => now, rate: { ratePerSec: 1000, burst: 1000 } });
    const a = await newAccount('rita', 'first passphrase');
    const reg = await registerBody(a, await challenge(s));
    expect((await api(s, 'register', reg)).status).toBe(201);

    // A passphrase change, then a replay of it: refused before anything else.
    const next = client('second passphrase');
    const up = await updateBody(
      a,
      await challenge(s),
      a.c.loginKey,
      next,
      seal(next.wrapKey, a.secret),
    );
    expect((await api(s, 'update', up)).status).toBe(200);
    expect(await code(await api(s, 'update', up))).toEqual([409, 'CHALLENGE_USED']);

    // Deleted, then the original registration replayed to restore the old passphrase: refused.
    const del = await deleteBody(a, await challenge(s), next.loginKey);
    expect((await api(s, 'delete', del)).status).toBe(204);
    expect(await code(await api(s, 'register', reg))).toEqual([409, 'CHALLENGE_USED']);
    expect(s.metrics().accounts.accounts).toBe(0);

    // A challenge past its 5 minutes.
    const old = await challenge(s);
    now += 5 * 60_000 + 1;
    const late = await api(s, 'register', await registerBody(a, old));
    expect(await code(late)).toEqual([400, 'CHALLENGE_EXPIRED']);
    // A nonce the server did not make (right length, wrong MAC).
    const forged = await api(s, 'register', await registerBody(a, b64(randomBytes(40))));
    const forgedBody = await json(forged);
    expect(forged.status).toBe(400);
    expect(forgedBody.error).toMatchObject({
      code: 'CHALLENGE_INVALID',
      message: expect.stringMatching(/get a fresh one from \/api\/account\/challenge/),
    });
    expect((await register(s, a)).status).toBe(201);
  });

  it('challenges of a previous server process are invalid', async () => {
    const s1 = await start();
    const nonce = await challenge(s1);
    await s1.close();
    const s2 = await start();
    const a = await newAccount('zed');
    expect(await code(await api(s2, 'register', await registerBody(a, nonce)))).toEqual([
      400,
      'CHALLENGE_INVALID',
    ]);
  });
});

describe('signed update and delete', () => {
  it('only the account key can change or delete the record, even with the login key', async () => {
    const s = await start({ rate: { ratePerSec: 1000, burst: 1000 } });
    const a = await newAccount('vera');
    await register(s, a);
    const mallory = accountKeyPair();
    const asMallory = { ...a, key: mallory };
    const next = client('hijacked passphrase');
    const sealed = seal(next.wrapKey, randomBytes(32));

    // Someone holding Alice's login key (a leaked request) but not her account key.
    const up = await updateBody(asMallory, await challenge(s), a.c.loginKey, next, sealed);
    const upRes = await api(s, 'update', up);
    expect(await code(upRes)).toEqual([403, 'REQUEST_BAD_SIGNATURE']);
    const del = await deleteBody(asMallory, await challenge(s), a.c.loginKey);
    expect(await code(await api(s, 'delete', del))).toEqual([403, 'REQUEST_BAD_SIGNATURE']);
    // A properly signed update with one field changed afterwards.
    const signed = await updateBody(a, await challenge(s), a.c.loginKey, next, sealed);
    const swapped = { ...signed, newSealedSecret: b64(randomBytes(61)) };
    expect(await code(await api(s, 'update', swapped))).toEqual([403, 'REQUEST_BAD_SIGNATURE']);
    // Unknown handles answer the same (checked against a decoy key): no handle enumeration.
    const ghost = await newAccount('ghost');
    const unknown = await api(
      s,
      'delete',
      await deleteBody(ghost, await challenge(s), ghost.c.loginKey),
    );
    const known = await api(
      s,
      'delete',
      await deleteBody(asMallory, await challenge(s), a.c.loginKey),
    );
    expect(unknown.status).toBe(known.status);
    expect((await json(unknown)).error).toEqual((await json(known)).error);
    // None of this counted as a failed login, and Alice's record is unchanged.
    expect(s.metrics().accounts.logins.failed).toBe(0);
    expect(await signIn(s, a.handle, a.passphrase)).toEqual(a.secret);
    // Her own signed update with the handle in another case goes through.
    const own = await updateBody(
      a,
      await challenge(s),
      a.c.loginKey,
      next,
      seal(next.wrapKey, a.secret),
      a.handle.toUpperCase(),
    );
    expect((await api(s, 'update', own)).status).toBe(200);
    expect(await signIn(s, a.handle, 'hijacked passphrase')).toEqual(a.secret);
  });
});
