import * as v from 'valibot';
import { ownerVerifier } from '../account/ed25519.ts';
import { decodeShareLink, shareOwnerHash, type ShareLink } from '../account/share-link.ts';
import { bytesEqual, toBase64Url } from '../bytes.ts';
import type { Clock } from '../clock.ts';
import { AbortError, WosError } from '../errors.ts';
import type { MeshNode } from '../mesh-node.ts';
import { decodeStripe } from '../storage/downloader.ts';
import { firstK } from '../storage/first-k.ts';
import { openManifestWithKeys, parseManifest, type Manifest } from '../storage/manifest.ts';
import type { VerifyFn } from '../storage/owner.ts';
import {
  FileDeletedError,
  FileNotFoundError,
  FileUnavailableError,
  HashMismatchError,
} from '../storage/service-errors.ts';
import { hashOf } from '../storage/shard-io.ts';
import type { StripeCoder } from '../storage/storage-context.ts';
import { MAX_PIECE_BYTES } from '../storage/storage-protocol.ts';
import { isShareErrorCode, ShareError } from './share-errors.ts';
import { ShareManifestReplySchema, ShareShardReplySchema } from './share-protocol.ts';

/**
 * A share link's guest: no account, no storage key, read-only. It decodes the link (a damaged
 * or expired link fails here, before any network), joins the share's rendezvous mesh, finds the
 * owner's share server there, fetches the signed manifest — its signer must be the owner the
 * link names (v2), the signature must hold, it must be the link's file, and its private part
 * must open with the link's meta key, all before anything of it is used — then k shards per stripe through the server, each checked against the manifest's hash,
 * rebuilds missing data shards, opens the chunks with the content key and streams the file
 * out with progress. It has no storage service: it can neither put nor delete anything, and
 * the server answers nothing but `sh.manifest` and `sh.shard` for the shared file.
 *
 * A server whose manifest fails these checks (another holder of the link serving other content
 * sealed with its keys, SHARE_WRONG_OWNER) is not asked again; the guest keeps looking for the
 * owner's server a short while (`otherServerWaitMs`) and then fails with that server's error.
 * A v1 link names no owner: its manifest is checked against the key it names itself only.
 */
export interface GuestComponents {
  subtle: SubtleCrypto;
  coder: StripeCoder;
  clock: Clock;
  /** A new mesh node (guest identity) on `meshKey`, not started yet. */
  joinMesh(meshKey: string): Promise<MeshNode>;
  /** Owner signature check (Ed25519 account keys and ECDSA device keys by default). */
  verify?: VerifyFn;
}

export interface ReadSharedOptions {
  signal?: AbortSignal;
  onProgress?: (p: { bytes: number; total: number }) => void;
  /** How long to look for a serving device before SHARE_UNAVAILABLE, ms. */
  waitMs?: number;
  /** After a server offered a manifest that fails its checks, how long to look for another, ms. */
  otherServerWaitMs?: number;
  requestTimeoutMs?: number;
  shardTimeoutMs?: number;
  pieceBytes?: number;
  piecesInFlight?: number;
  /** Stripes fetched ahead of the reader. */
  readAhead?: number;
}

export interface SharedFile {
  /** File id (base64url). */
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly size: number;
  readonly created: number;
  /**
   * Whether the manifest was checked against the owner the link names (v2). False for a v1
   * link: any holder of it could have served this; the guest page says so.
   */
  readonly ownerChecked: boolean;
  /** The plaintext; the guest leaves the rendezvous mesh when it ends, fails or is cancelled. */
  readonly stream: ReadableStream<Uint8Array>;
  /** Leaves the rendezvous mesh now. */
  close(): Promise<void>;
}

const LOOK_EVERY_MS = 200;

interface Session {
  readonly c: GuestComponents;
  readonly share: string;
  readonly node: MeshNode;
  readonly server: string;
  readonly o: Required<Omit<ReadSharedOptions, 'signal' | 'onProgress'>>;
}

/** A share error from a reply (the server's code, this side's message), else `e`. */
function shareErrorOf(e: unknown): unknown {
  return e instanceof WosError && isShareErrorCode(e.code) && !(e instanceof ShareError)
    ? new ShareError(e.code)
    : e;
}

function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('reading a shared file', signal.reason));
    const onAbort = (): void => {
      clock.clearTimeout(t);
      reject(new AbortError('reading a shared file', signal?.reason));
    };
    const t = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Opens a share link and starts reading: resolves once the manifest is fetched and opened. */
export async function readShared(
  c: GuestComponents,
  linkText: string,
  opts: ReadSharedOptions = {},
): Promise<SharedFile> {
  const link = await decodeShareLink(c.subtle, linkText, c.clock.now());
  const o = {
    waitMs: opts.waitMs ?? 20_000,
    otherServerWaitMs: opts.otherServerWaitMs ?? 3_000,
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
    shardTimeoutMs: opts.shardTimeoutMs ?? 30_000,
    pieceBytes: Math.max(1, Math.min(opts.pieceBytes ?? MAX_PIECE_BYTES, MAX_PIECE_BYTES)),
    piecesInFlight: Math.max(1, opts.piecesInFlight ?? 4),
    readAhead: Math.max(1, opts.readAhead ?? 2),
  };
  const node = await c.joinMesh(link.meshKey);
  const share = toBase64Url(link.shareId);
  try {
    await node.start(opts.signal);
    const found = await findServer(c, node, link, o, opts.signal);
    const man = found.man;
    const session: Session = { c, share, node, server: found.server, o };
    return {
      id: man.body.file,
      name: man.meta.name,
      type: man.meta.type,
      size: man.meta.size,
      created: man.meta.created,
      ownerChecked: link.owner !== undefined,
      stream: sharedStream(session, man, opts.signal, opts.onProgress),
      close: () => node.close({ goodbye: true }),
    };
  } catch (e) {
    await node.close({ goodbye: true }).catch(() => {});
    throw shareErrorOf(e);
  }
}

/**
 * The served manifest, checked before any of it is used: signed by the owner the link names
 * (v2; SHARE_WRONG_OWNER), a valid signature, the link's file, and a sealed part that opens
 * with the link's meta key (BAD_MANIFEST, WRONG_KEY_OR_CORRUPT).
 */
async function openServed(
  c: GuestComponents,
  link: ShareLink,
  signed: Manifest['signed'],
): Promise<Manifest> {
  if (link.owner) {
    const { owner } = parseManifest(signed);
    if (!bytesEqual(await shareOwnerHash(c.subtle, owner), link.owner)) {
      throw new ShareError('SHARE_WRONG_OWNER', `the manifest is signed by ${owner.slice(0, 12)}…`);
    }
  }
  return openManifestWithKeys(c.subtle, link.keys, signed, c.verify ?? ownerVerifier(c.subtle));
}

type Served = { server: string; man: Manifest } | { server: string; refused: unknown };

/** Asks every member of the rendezvous mesh for the manifest until a share server answers. */
async function findServer(
  c: GuestComponents,
  node: MeshNode,
  link: ShareLink,
  o: { waitMs: number; otherServerWaitMs: number; requestTimeoutMs: number },
  signal?: AbortSignal,
): Promise<{ server: string; man: Manifest }> {
  const share = toBase64Url(link.shareId);
  const file = toBase64Url(link.fileId);
  let deadline = c.clock.now() + o.waitMs;
  const asked = new Set<string>();
  let lastError: unknown;
  // The first manifest that failed its checks; its server is never asked again.
  let refused: unknown;
  for (;;) {
    const fresh = node.members
      .alive()
      .map((m) => m.id)
      .filter((id) => !asked.has(id));
    for (const id of fresh) asked.add(id);
    const replies = await Promise.allSettled(
      fresh.map(async (id): Promise<Served> => {
        const r = await node.bus.request(
          id,
          'sh.manifest',
          { share },
          { timeoutMs: o.requestTimeoutMs, ...(signal ? { signal } : {}) },
        );
        const signed = v.parse(ShareManifestReplySchema, r.body).manifest;
        try {
          return { server: id, man: await openServed(c, link, signed) };
        } catch (e) {
          return { server: id, refused: e };
        }
      }),
    );
    for (const r of replies) if (r.status === 'fulfilled' && 'man' in r.value) return r.value;
    for (const [i, r] of replies.entries()) {
      if (r.status === 'fulfilled') {
        if ('refused' in r.value) refused ??= r.value.refused;
        // Someone serves what the link does not name: wait a little for the owner's server.
        deadline = Math.min(deadline, c.clock.now() + o.otherServerWaitMs);
        continue;
      }
      const e = shareErrorOf(r.reason);
      // The owner's answer (revoked, expired, limit reached, unknown share, deleted) is final.
      if (e instanceof ShareError) throw e;
      if (e instanceof WosError && e.code === 'FILE_DELETED') throw new FileDeletedError(file);
      if (e instanceof WosError && e.code === 'ABORTED') throw e;
      lastError = e;
      // Another guest has no such handler; anyone else may answer later (busy, starting).
      if (!(e instanceof WosError && e.code === 'INVALID_MESSAGE')) asked.delete(fresh[i]!);
    }
    if (c.clock.now() >= deadline) {
      if (refused !== undefined) throw refused;
      // A server answered, but the owner's holders of the file are away.
      if (lastError instanceof WosError && lastError.code === 'FILE_NOT_FOUND') {
        throw new FileNotFoundError(file);
      }
      const why = lastError instanceof Error ? lastError.message : 'nobody on the share mesh';
      throw new ShareError('SHARE_UNAVAILABLE', why);
    }
    await nextLook(c.clock, node, signal);
  }
}

/** Until a member joins (the server, most likely) or LOOK_EVERY_MS pass. */
async function nextLook(clock: Clock, node: MeshNode, signal?: AbortSignal): Promise<void> {
  let off = (): void => {};
  const joined = new Promise<void>((resolve) => (off = node.members.on('join', () => resolve())));
  try {
    await Promise.race([joined, sleep(clock, LOOK_EVERY_MS, signal)]);
  } finally {
    off();
  }
}

/** Sealed shard (stripe, index) from the server, checked against the manifest's hash. */
async function fetchShard(
  s: Session,
  man: Manifest,
  stripe: number,
  index: number,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const layout = man.body.stripes[stripe]!;
  const size = layout.size;
  const out = new Uint8Array(size);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < size) {
      const from = next;
      const len = Math.min(s.o.pieceBytes, size - from);
      next += len;
      const r = await s.node.bus.request(
        s.server,
        'sh.shard',
        { share: s.share, stripe, index, from, len },
        { timeoutMs: s.o.shardTimeoutMs, signal },
      );
      if (v.parse(ShareShardReplySchema, r.body).size !== size || r.bin?.length !== len) {
        throw new HashMismatchError(`shard ${stripe}/${index} (wrong size)`);
      }
      out.set(r.bin, from);
    }
  };
  await Promise.all(Array.from({ length: s.o.piecesInFlight }, lane));
  if ((await hashOf(s.c.subtle, out)) !== layout.shards[index]![0]) {
    throw new HashMismatchError(`shard ${stripe}/${index} from the share`);
  }
  return out;
}

/** At least k verified shards of a stripe (data shards first; a failed one is replaced). */
async function fetchStripe(
  s: Session,
  man: Manifest,
  stripe: number,
  signal: AbortSignal,
): Promise<(Uint8Array | undefined)[]> {
  const { k, n, file } = man.body;
  const got = new Array<Uint8Array | undefined>(n).fill(undefined);
  let lastError: unknown;
  const good = await firstK([...Array(n).keys()], k, async (i) => {
    try {
      got[i] = await fetchShard(s, man, stripe, i, signal);
      return true;
    } catch (e) {
      const err = shareErrorOf(e);
      if (err instanceof ShareError || signal.aborted) throw err;
      lastError = err;
      return false;
    }
  });
  if (good < k) throw new FileUnavailableError(file, stripe, good, k, lastError);
  return got;
}

function sharedStream(
  s: Session,
  man: Manifest,
  signal: AbortSignal | undefined,
  onProgress: ReadSharedOptions['onProgress'],
): ReadableStream<Uint8Array> {
  const count = man.body.stripes.length;
  const total = man.meta.size;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  const ahead = new Map<number, Promise<Uint8Array>>();
  let next = 0;
  let bytes = 0;
  const start = (i: number): void => {
    if (i >= count || ahead.has(i)) return;
    const p = fetchStripe(s, man, i, stop.signal).then((sh) =>
      decodeStripe({ coder: s.c.coder, subtle: s.c.subtle }, man, i, sh),
    );
    p.catch(() => {});
    ahead.set(i, p);
  };
  const finish = (): void => {
    signal?.removeEventListener('abort', onAbort);
    void s.node.close({ goodbye: true }).catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (let i = next; i < next + s.o.readAhead; i++) start(i);
        const out = await ahead.get(next)!;
        ahead.delete(next);
        next++;
        bytes += out.length;
        if (out.length > 0) controller.enqueue(out);
        onProgress?.({ bytes, total });
        if (next >= count) {
          finish();
          controller.close();
        }
      } catch (e) {
        stop.abort();
        finish();
        controller.error(
          signal?.aborted ? new AbortError('reading a shared file') : shareErrorOf(e),
        );
      }
    },
    cancel(reason) {
      stop.abort(reason);
      finish();
    },
  });
}
