import * as v from 'valibot';
import { fromBase64Url, toBase64Url, utf8 } from './bytes.ts';
import { verifySignature, type DeviceIdentity } from './identity.ts';

/**
 * A closing node's goodbye through the signaling server, beside the one on its links. The
 * link's `bye` rides the same ordered data channel as everything else and dies with the page
 * about 1 close in 20 (behind bulk data, more often); a websocket message is handed to the
 * browser's network process at once and outlives the page. The server could forge or drop
 * such a message, so it carries a signature by the leaving node's device key over
 * `wos/bye/v1|meshId|nodeId`: a peer that verifies it with the key the node proved on their
 * link drops the node at once; anything else is ignored (the server can still only delay).
 * The signature is made when the node starts, since a closing page has no time for WebCrypto.
 */
export const GoodbyeSchema = v.object({
  wos: v.literal('bye'),
  v: v.literal(1),
  sig: v.pipe(v.string(), v.maxLength(200)),
});
export type Goodbye = v.InferOutput<typeof GoodbyeSchema>;

const text = (meshId: string, nodeId: string): Uint8Array => utf8(`wos/bye/v1|${meshId}|${nodeId}`);

/** This node's goodbye for `meshId`, signed now to be sent later. */
export async function signGoodbye(
  identity: DeviceIdentity,
  meshId: string,
  nodeId: string,
): Promise<Goodbye> {
  return { wos: 'bye', v: 1, sig: toBase64Url(await identity.sign(text(meshId, nodeId))) };
}

/** Whether `payload` is `nodeId`'s goodbye for `meshId`, signed by `publicKey` (raw P-256). */
export async function isGoodbyeFrom(
  subtle: SubtleCrypto,
  payload: unknown,
  meshId: string,
  nodeId: string,
  publicKey: Uint8Array,
): Promise<boolean> {
  const r = v.safeParse(GoodbyeSchema, payload);
  if (!r.success) return false;
  let sig: Uint8Array;
  try {
    sig = fromBase64Url(r.output.sig);
  } catch {
    return false;
  }
  return verifySignature(subtle, publicKey, text(meshId, nodeId), sig);
}
