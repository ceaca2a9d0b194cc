import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { client, newAccount, registerBody, updateBody } from './account-helpers.ts';
import { HOST, within } from './helpers.ts';

/**
 * The server runs in a child process (so this test process's own copies of the keys cannot
 * pollute the dump); after a registration, logins (right and wrong) and a passphrase change,
 * it writes a V8 heap snapshot, which must hold no login key in any encoding.
 */
const SERVER = fileURLToPath(new URL('../../signaling-server/server.ts', import.meta.url));

const CHILD = `
import v8 from 'node:v8';
const [serverPath, marker, db, dir] = process.argv.slice(1);
const { createWosServer } = await import(serverPath);
globalThis.wosTestMarker = [marker].join('');
const s = await createWosServer({
  port: 0,
  host: '${HOST}',
  staticDir: dir,
  accounts: { db },
  log: (line) => process.stdout.write('LOG ' + line + '\\n'),
});
process.send({ port: s.port });
process.on('message', async (m) => {
  if (m === 'snapshot') process.send({ file: v8.writeHeapSnapshot(dir + '/server.heapsnapshot') });
  if (m === 'exit') { await s.close(); process.exit(0); }
});
`;

let child: ChildProcess | undefined;
let dir: string | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function message<T>(c: ChildProcess, what: string): Promise<T> {
  return within(
    new Promise<T>((resolve) => c.once('message', (m) => resolve(m as T))),
    30_000,
    what,
  );
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64url');

describe('account secrets in server memory', () => {
  it('a heap snapshot of the server process holds no login key after sign-ins', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'wos-accounts-mem-'));
    const marker = `MARKER-${randomBytes(8).toString('hex')}`;
    const db = path.join(dir, 'wos.sqlite');
    child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', CHILD, SERVER, marker, db, dir],
      { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
    );
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += String(d)));
    const { port } = await message<{ port: number }>(child, 'the server to start');
    const base = `http://${HOST}:${port}/api/account`;
    let last: Record<string, unknown> = {};
    const post = async (op: string, body: unknown): Promise<number> => {
      const res = await fetch(`${base}/${op}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      last = res.status === 200 ? ((await res.json()) as Record<string, unknown>) : {};
      return res.status;
    };
    const challenge = async (): Promise<string> => {
      expect(await post('challenge', {})).toBe(200);
      return String(last.nonce);
    };

    const a = await newAccount('mem');
    const next = client('another passphrase');
    const keys = [a.c.loginKey, next.loginKey, randomBytes(32)];
    const [loginKey, newLoginKey, wrongKey] = keys as [Buffer, Buffer, Buffer];
    const handle = a.handle;
    const sealed = b64(a.sealed);
    expect(await post('register', await registerBody(a, await challenge()))).toBe(201);
    expect(await post('login', { handle, loginKey: b64(loginKey) })).toBe(200);
    expect(await post('login', { handle, loginKey: b64(wrongKey) })).toBe(401);
    expect(await post('login', { handle: 'nobody#0000', loginKey: b64(wrongKey) })).toBe(401);
    const up = await updateBody(a, await challenge(), loginKey, next, randomBytes(61));
    expect(await post('update', up)).toBe(200);
    expect(await post('login', { handle, loginKey: b64(newLoginKey) })).toBe(200);

    child.send('snapshot');
    const { file } = await message<{ file: string }>(child, 'the heap snapshot');
    const snapshot = readFileSync(file, 'latin1');
    expect(snapshot).toContain(marker); // the search does find strings the server holds
    for (const k of keys) {
      for (const form of [b64(k), k.toString('hex'), k.toString('base64'), k.toString('latin1')])
        expect(snapshot.includes(form), `login key as ${form} in the heap snapshot`).toBe(false);
    }
    // The request log has paths and statuses only.
    expect(stdout).toContain('POST /api/account/login 200');
    for (const k of keys) expect(stdout).not.toContain(b64(k));
    expect(stdout).not.toContain(sealed);
    expect(stdout).not.toContain(handle);

    child.send('exit');
    await within(new Promise((r) => child!.once('exit', r)), 10_000, 'the server process to exit');
  });
});
