import * as v from 'valibot';
import {
  AccountApiError,
  type AccountApi,
  type DeleteRequest,
  type RegisterRequest,
  type UpdateRequest,
} from '../../core/account/account-api.ts';
import { describeIssues } from '../../core/wire.ts';

/**
 * `AccountApi` over HTTP: POST JSON to `<server>/api/account/<op>` (signaling-server/accounts).
 * Bodies carry only what the server keeps or checks (salt, parameters, sealed secret, login
 * key, and for changes the account key's signature); never the passphrase or the secret. Error
 * answers become named `AccountApiError`s.
 */
const Kdf = v.object({ N: v.number(), r: v.number(), p: v.number() });
const Register = v.object({ handle: v.string(), createdAt: v.number() });
const Params = v.object({ salt: v.string(), kdf: Kdf });
const Login = v.object({ handle: v.string(), accountKey: v.string(), sealedSecret: v.string() });
const Update = v.object({ updatedAt: v.number() });
const Challenge = v.object({ nonce: v.string() });
const ErrorBody = v.object({
  error: v.object({ code: v.optional(v.string()), message: v.optional(v.string()) }),
});

export class HttpAccountApi implements AccountApi {
  constructor(
    private readonly serverUrl: string,
    private readonly fetchImpl: typeof fetch = fetch.bind(globalThis),
  ) {}

  async challenge(): Promise<string> {
    return (await this.#post('challenge', {}, Challenge)).nonce;
  }

  async register(r: RegisterRequest): Promise<{ handle: string; createdAt: number }> {
    return this.#post('register', r, Register);
  }

  async params(handle: string) {
    const p = await this.#post('params', { handle }, Params);
    return { salt: p.salt, kdf: { N: p.kdf.N, r: p.kdf.r, p: p.kdf.p } };
  }

  async login(handle: string, loginKey: string) {
    return this.#post('login', { handle, loginKey }, Login);
  }

  async update(r: UpdateRequest): Promise<{ updatedAt: number }> {
    return this.#post('update', r, Update);
  }

  async delete(r: DeleteRequest): Promise<void> {
    await this.#post('delete', r, undefined);
  }

  async #post<S extends v.GenericSchema>(
    op: string,
    body: unknown,
    schema: S | undefined,
  ): Promise<v.InferOutput<S>> {
    let res: Response;
    try {
      res = await this.fetchImpl(new URL(`/api/account/${op}`, this.serverUrl), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new AccountApiError(
        'ACCOUNT_SERVER_UNREACHABLE',
        `the account server did not answer (${e instanceof Error ? e.message : String(e)}); ` +
          'check the connection and retry',
      );
    }
    if (!res.ok) {
      const retry = Number(res.headers.get('Retry-After'));
      let code: string | undefined;
      let message: string | undefined;
      try {
        const parsed = v.safeParse(ErrorBody, await res.json());
        if (parsed.success) ({ code, message } = parsed.output.error);
      } catch {
        // not JSON: the status alone
      }
      throw AccountApiError.fromServer(
        res.status,
        code,
        message,
        Number.isFinite(retry) && retry > 0 ? retry : undefined,
      );
    }
    if (!schema) return undefined as v.InferOutput<S>;
    const parsed = v.safeParse(schema, await res.json().catch(() => undefined));
    if (!parsed.success) {
      throw new AccountApiError(
        'ACCOUNT_SERVER_ERROR',
        `the account server's answer to ${op} is malformed (${describeIssues(parsed.issues)})`,
        res.status,
      );
    }
    return parsed.output;
  }
}
