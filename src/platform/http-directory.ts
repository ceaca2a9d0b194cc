import * as v from 'valibot';
import { WosError } from '../core/errors.ts';
import type { Directory } from '../core/transport.ts';

/**
 * The mesh directory on our signaling server. The server only ever sees the mesh id (a hash of
 * the mesh key) and proves our peer id by the PeerJS token we connected with.
 */
const PeersSchema = v.object({ v: v.literal(1), peers: v.array(v.string()) });

export class HttpDirectory implements Directory {
  readonly #base: string;
  readonly #peerId: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(base: string, peerId: string, token: string, fetchImpl: typeof fetch = fetch) {
    this.#base = base.replace(/\/$/, '');
    this.#peerId = peerId;
    this.#token = token;
    this.#fetch = fetchImpl;
  }

  async join(meshId: string, signal?: AbortSignal): Promise<string[]> {
    return this.#peers(await this.#post(meshId, 'join', signal));
  }

  async peers(meshId: string, signal?: AbortSignal): Promise<string[]> {
    const res = await this.#fetch(
      `${this.#base}/api/mesh/${meshId}/peers`,
      signal ? { signal } : {},
    );
    return this.#peers(res);
  }

  async leave(meshId: string): Promise<void> {
    await this.#post(meshId, 'leave', undefined, true);
  }

  async #post(
    meshId: string,
    op: string,
    signal?: AbortSignal,
    keepalive = false,
  ): Promise<Response> {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ peerId: this.#peerId, token: this.#token }),
      keepalive,
    };
    if (signal) init.signal = signal;
    return this.#fetch(`${this.#base}/api/mesh/${meshId}/${op}`, init);
  }

  async #peers(res: Response): Promise<string[]> {
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new WosError(
        'DIRECTORY_FAILED',
        `mesh directory answered ${res.status}: ${text.slice(0, 200)}`,
      );
    }
    const r = v.safeParse(PeersSchema, await res.json());
    if (!r.success)
      throw new WosError('DIRECTORY_FAILED', 'mesh directory sent an unexpected answer');
    return r.output.peers;
  }
}

export const ServerConfigSchema = v.object({
  v: v.literal(1),
  iceServers: v.array(
    v.object({
      urls: v.union([v.string(), v.array(v.string())]),
      username: v.optional(v.string()),
      credential: v.optional(v.string()),
    }),
  ),
  peerPath: v.string(),
  peerKey: v.string(),
});

export type ServerConfig = v.InferOutput<typeof ServerConfigSchema>;

export async function fetchServerConfig(
  base: string,
  fetchImpl: typeof fetch = fetch,
): Promise<ServerConfig> {
  let res: Response;
  try {
    res = await fetchImpl(`${base.replace(/\/$/, '')}/config`);
  } catch (e) {
    throw new WosError(
      'SERVER_UNREACHABLE',
      `cannot reach the WOS server at ${base}: ${String(e)}`,
    );
  }
  if (!res.ok)
    throw new WosError('SERVER_UNREACHABLE', `WOS server at ${base} answered ${res.status}`);
  const r = v.safeParse(ServerConfigSchema, await res.json());
  if (!r.success)
    throw new WosError('SERVER_UNREACHABLE', `WOS server at ${base} sent a bad /config`);
  return r.output;
}
