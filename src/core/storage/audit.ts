import * as v from 'valibot';
import { concatBytes, toBase64Url } from '../bytes.ts';
import type { Manifest } from './manifest.ts';
import type { ShardStatus } from './health.ts';
import { hashOf } from './shard-io.ts';
import { SignalFan } from './signal-fan.ts';
import type { StorageContext } from './storage-context.ts';
import { AuditReplySchema, MAX_AUDIT_ITEMS } from './storage-protocol.ts';

/**
 * Auditing a file's holders with `st.audit`, one request per store for all its shards.
 *
 * - `auditFile`: each holder returns the SHA-256 of each whole shard, compared with the
 *   manifest: finds lost and corrupt shards for 32 bytes per shard on the wire.
 * - `challengeStripe`: with the stripe rebuilt locally (so the expected bytes are known), each
 *   holder hashes a random nonce and a random byte range of its shard: it cannot answer from a
 *   stored hash, only from the bytes themselves (proof of possession).
 */
export interface ShardState {
  store: string;
  status: ShardStatus;
}

/** The state of every shard: [stripe][index]. */
export async function auditFile(
  ctx: StorageContext,
  man: Manifest,
  signal?: AbortSignal,
): Promise<ShardState[][]> {
  const { file, stores, stripes } = man.body;
  const out: ShardState[][] = stripes.map((s) =>
    s.shards.map(([, at]) => ({ store: stores[at]!, status: 'offline' as ShardStatus })),
  );
  const byStore = new Map<string, { stripe: number; index: number }[]>();
  stripes.forEach((s, stripe) =>
    s.shards.forEach(([, at], index) => {
      const store = stores[at]!;
      byStore.set(store, [...(byStore.get(store) ?? []), { stripe, index }]);
    }),
  );
  const fan = new SignalFan(signal);
  await Promise.all(
    [...byStore].map(async ([store, items]) => {
      const node = ctx.dir.nodesOf(store)[0];
      if (node === undefined) return;
      for (let i = 0; i < items.length; i += MAX_AUDIT_ITEMS) {
        const batch = items.slice(i, i + MAX_AUDIT_ITEMS);
        let results: (string | null)[];
        try {
          const req = { file, items: batch };
          const r = await fan.run((sig) =>
            ctx.bus.request(node, 'st.audit', req, {
              timeoutMs: ctx.opts.requestTimeoutMs,
              signal: sig,
            }),
          );
          results = v.parse(AuditReplySchema, r.body).results;
          if (results.length !== batch.length) throw new Error('audit reply has the wrong length');
        } catch {
          ctx.dir.report(store, false);
          return;
        }
        batch.forEach(({ stripe, index }, j) => {
          const got = results[j];
          const want = stripes[stripe]!.shards[index]![0];
          out[stripe]![index]!.status = got === null ? 'missing' : got === want ? 'ok' : 'corrupt';
        });
        ctx.dir.report(
          store,
          results.every((x, j) => x === stripes[batch[j]!.stripe]!.shards[batch[j]!.index]![0]),
        );
      }
    }),
  ).finally(() => fan.close());
  return out;
}

/**
 * Challenges the holders of stripe `s` whose shards `states` calls ok, against the full stripe
 * `shards` (rebuilt and verified by the caller); a wrong answer marks the shard corrupt.
 */
export async function challengeStripe(
  ctx: StorageContext,
  man: Manifest,
  s: number,
  shards: readonly Uint8Array[],
  states: ShardState[],
  signal?: AbortSignal,
): Promise<void> {
  const fan = new SignalFan(signal);
  await Promise.all(
    states.map(async (st, index) => {
      if (st.status !== 'ok') return;
      const node = ctx.dir.nodesOf(st.store)[0];
      const shard = shards[index]!;
      if (node === undefined) return;
      const nonce = ctx.random(16);
      const [a, b] = ctx
        .random(8)
        .reduce<[number, number]>(
          (acc, x, i) => (i < 4 ? [acc[0] * 256 + x, acc[1]] : [acc[0], acc[1] * 256 + x]),
          [0, 0],
        );
      const from = a % shard.length;
      const len = 1 + (b % (shard.length - from));
      const want = await hashOf(ctx.subtle, concatBytes(nonce, shard.subarray(from, from + len)));
      const item = { stripe: s, index, from, len };
      try {
        const req = { file: man.body.file, nonce: toBase64Url(nonce), items: [item] };
        const r = await fan.run((sig) =>
          ctx.bus.request(node, 'st.audit', req, {
            timeoutMs: ctx.opts.requestTimeoutMs,
            signal: sig,
          }),
        );
        const got = v.parse(AuditReplySchema, r.body).results[0];
        st.status = got === want ? 'ok' : got === null ? 'missing' : 'corrupt';
      } catch {
        st.status = 'offline';
      }
      ctx.dir.report(st.store, st.status === 'ok');
    }),
  ).finally(() => fan.close());
}
