import * as v from 'valibot';
import { CertificateSchema, type Certificate } from './account/certificate.ts';
import { InviteClaimSchema } from './account/member-list.ts';
import { ADMISSION_CODE_RE, openAdmission, type Admission } from './admission.ts';
import { concatBytes, fromBase64Url, toBase64Url, utf8 } from './bytes.ts';
import { ChannelInterceptedError } from './channel-binding.ts';
import type { Clock } from './clock.ts';
import { HandshakeError, InvalidMessageError, TimeoutError, WosError } from './errors.ts';
import { FramedChannel } from './framing.ts';
import { deviceIdOf, deviceOfNode, verifySignature, type DeviceIdentity } from './identity.ts';
import {
  helloVersionFields,
  mismatchMessageForPeer,
  negotiateVersion,
  OUR_PROTOCOL,
  ProtocolMismatchError,
  ProtocolVersionMalformedError,
  readHelloVersion,
  type VersionRange,
} from './protocol-version.ts';
import type { Channel } from './transport.ts';
import { decodePacket, describeIssues, encodePacket, NodeIdSchema, type Packet } from './wire.ts';

/**
 * A link is a channel whose peer has proven (1) its node id, by signing the handshake
 * transcript with the device key the id is derived from, over this very connection (the
 * transcript holds both ends' certificate fingerprints: channel-binding.ts), and (2) knowledge
 * of the mesh key, by an HMAC over the transcript, and (3) passed this node's admission
 * (admission.ts), which each side announces with `admit` or refuses with `reject {code}`. Nothing but `hello`, `auth`,
 * `admit` and `reject` is accepted before. Before any of that, the `hello`s' protocol version
 * ranges must overlap (protocol-version.ts), else both sides fail with PROTOCOL_MISMATCH.
 */
export type NodeKind = 'tab' | 'agent';

export interface LinkPeer {
  nodeId: string;
  deviceId: string;
  kind: NodeKind;
  /** The protocol version both sides speak on this link (the highest they share). */
  protocol: number;
  /** The device certificate the peer showed in its `hello` (checked by the admission, if any). */
  certificate?: Certificate;
  /** The device public key the peer proved in the handshake (raw P-256). */
  publicKey: Uint8Array;
}

export interface LinkContext {
  nodeId: string;
  kind: NodeKind;
  identity: DeviceIdentity;
  meshId: string;
  meshAuthKey: CryptoKey;
  subtle: SubtleCrypto;
  random: (n: number) => Uint8Array;
  clock: Clock;
  maxMessageBytes: number;
  handshakeTimeoutMs: number;
  /** Decides whether a proven peer is admitted; default: everyone who proved the mesh key. */
  admission?: Admission;
  /** The protocol versions this node speaks; default OUR_PROTOCOL (tests pose as other builds). */
  protocol?: VersionRange;
}

export interface Link {
  readonly peer: LinkPeer;
  readonly framed: FramedChannel;
  send(p: Packet): Promise<void>;
  close(): void;
  /** Set by the owner after the handshake. */
  onPacket: ((p: Packet) => void) | undefined;
  onReject: ((reason: string, detail: string) => void) | undefined;
  onClose: (() => void) | undefined;
}

// `v`/`vmin` are checked by readHelloVersion first. Unknown fields are dropped, not refused,
// so a newer build may add optional ones without breaking builds that share its version range.
const HelloSchema = v.object({
  v: v.number(),
  vmin: v.optional(v.number()),
  kind: v.picklist(['tab', 'agent']),
  pub: v.pipe(v.string(), v.length(87)),
  nonce: v.pipe(v.string(), v.length(43)),
  cert: v.optional(CertificateSchema),
  claim: v.optional(InviteClaimSchema),
});
const FingerprintSchema = v.pipe(v.string(), v.maxLength(200));
const AuthSchema = v.strictObject({
  sig: v.pipe(v.string(), v.maxLength(200)),
  mac: v.pipe(v.string(), v.length(43)),
  /** The signer's view of the session's certificates, initiator's first: for the error only. */
  fp: v.tuple([FingerprintSchema, FingerprintSchema]),
});
// Extra fields are ignored so a newer build's reject still reads as its code and message.
const RejectSchema = v.object({
  code: v.pipe(v.string(), v.maxLength(64)),
  message: v.pipe(v.string(), v.maxLength(1000)),
});
const AdmitSchema = v.strictObject({});
/** A refusing side keeps the channel this long so its `reject` reaches the peer. */
const REJECT_LINGER_MS = 2000;

export class MeshKeyMismatchError extends HandshakeError {
  constructor(peer: string) {
    super(
      'MESH_KEY_MISMATCH',
      `peer ${peer} does not hold this mesh's key; check that both used the same invite link`,
    );
  }
}

/** The peer refused this node (`byPeer`) or this node the peer at admission, e.g. CERT_MISSING. */
export class AdmissionRefusedError extends HandshakeError {
  constructor(
    code: string,
    message: string,
    readonly byPeer: boolean,
  ) {
    super(code, message);
  }
}

/** What the mesh-key MAC covers: the session's nonces and the two node ids, with the role. */
function macTranscript(ctx: LinkContext, initNonce: string, respNonce: string, ids: string[]) {
  return utf8(['wos/auth/v1', ctx.meshId, initNonce, respNonce, ...ids].join('|'));
}

/**
 * What the device-key signature covers (protocol 3): the MAC's transcript plus both hellos'
 * version ranges (so no one in between can make the two sides settle on an older version) and
 * both certificate fingerprints of the connection (channel-binding.ts), initiator's first.
 */
function sigTranscript(base: Uint8Array, ranges: VersionRange[], fps: readonly string[]) {
  const r = ranges.map((x) => `v${x.min}-${x.max}`);
  return concatBytes(utf8('sig|wos/auth/v2|'), base, utf8(['', ...r, ...fps].join('|')));
}

/** Runs the handshake on `channel`; resolves with the admitted link or rejects and closes. */
export function establishLink(channel: Channel, ctx: LinkContext): Promise<Link> {
  return new Promise<Link>((resolve, reject) => {
    const myNonce = toBase64Url(ctx.random(32));
    let peerHello:
      (v.InferOutput<typeof HelloSchema> & { nodeId: string; protocol: number }) | undefined;
    const ours = ctx.protocol ?? OUR_PROTOCOL;
    let theirs: VersionRange | undefined;
    let done = false;
    const queued: Packet[] = [];
    let link: Link | undefined;
    let chain = Promise.resolve();
    const timer = ctx.clock.setTimeout(
      () => fail(new TimeoutError('handshake', ctx.handshakeTimeoutMs)),
      ctx.handshakeTimeoutMs,
    );

    const admission = ctx.admission ?? openAdmission;
    let selfAdmits = false;
    let peerAdmits = false;
    const fail = (err: WosError, lingerMs = 0): void => {
      if (done) return;
      done = true;
      ctx.clock.clearTimeout(timer);
      if (lingerMs > 0) ctx.clock.setTimeout(() => channel.close(), lingerMs);
      else channel.close();
      reject(err);
    };
    const send = (t: string, b: unknown): Promise<void> =>
      framed.send(
        encodePacket({
          env: { id: `${ctx.nodeId}/hs-${t}`, t, f: ctx.nodeId, to: '*', ttl: 0, b },
        }),
      );

    const framed = new FramedChannel(channel, {
      maxMessageBytes: ctx.maxMessageBytes,
      onMessage: (bytes) => {
        let p: Packet;
        try {
          p = decodePacket(bytes);
        } catch (e) {
          if (link) return link.onReject?.('invalid', (e as Error).message);
          return fail(e as WosError);
        }
        if (link) return deliver(link, p);
        // Handshake steps await crypto; chain them so `auth` never overtakes `hello`.
        chain = chain
          .then(() => {
            if (link)
              deliver(link, p); // the peer admitted us while we were still checking
            else if (!done) return onHandshake(p);
          })
          .catch((e: unknown) =>
            fail(e instanceof WosError ? e : new HandshakeError('HANDSHAKE_FAILED', String(e))),
          );
      },
      onReject: (reason, detail) => {
        if (link) link.onReject?.(reason, detail);
        else fail(new InvalidMessageError(`${reason}: ${detail}`));
      },
    });
    channel.onClose = () => {
      if (link) link.onClose?.();
      else {
        // A `reject` may still be in the chain; let it explain the close first.
        void chain.then(() =>
          fail(new HandshakeError('CHANNEL_CLOSED', 'the channel closed during the handshake')),
        );
      }
    };

    const deliver = (l: Link, p: Packet): void => {
      if (l.onPacket) l.onPacket(p);
      else queued.push(p);
    };

    const onHandshake = async (p: Packet): Promise<void> => {
      if (p.env.t === 'reject') {
        const r = v.safeParse(RejectSchema, p.env.b);
        if (r.success && r.output.code === 'PROTOCOL_MISMATCH') {
          // Usually its hello already told us; without it, its text is all we have.
          if (theirs && negotiateVersion(ours, theirs) === undefined) {
            throw new ProtocolMismatchError(channel.remoteId, ours, theirs, true);
          }
          throw new HandshakeError('PROTOCOL_MISMATCH', `peer ${p.env.f}: ${r.output.message}`);
        }
        if (r.success && r.output.code === 'CHANNEL_BINDING_UNAVAILABLE') {
          throw new HandshakeError(r.output.code, `peer ${p.env.f} refused: ${r.output.message}`);
        }
        if (r.success && r.output.code === 'PROTOCOL_VERSION_MALFORMED') {
          throw new HandshakeError(r.output.code, `peer ${p.env.f}: ${r.output.message}`);
        }
        if (r.success && r.output.code === 'MESH_KEY_MISMATCH') {
          throw new MeshKeyMismatchError(p.env.f);
        }
        if (r.success && ADMISSION_CODE_RE.test(r.output.code)) {
          throw new AdmissionRefusedError(
            r.output.code,
            `peer ${p.env.f} refused this device: ${r.output.message}`,
            true,
          );
        }
        throw new HandshakeError(
          'REJECTED',
          `peer refused the link: ${JSON.stringify(p.env.b).slice(0, 1200)}`,
        );
      }
      if (p.env.t === 'admit') {
        if (!peerHello) throw new InvalidMessageError('admit before hello');
        if (!v.is(AdmitSchema, p.env.b)) throw new InvalidMessageError('admit: not {}');
        peerAdmits = true;
        if (selfAdmits) admit();
        return;
      }
      if (p.env.t === 'hello') {
        if (peerHello || theirs) throw new InvalidMessageError('second hello');
        const protocol = await checkVersion(p);
        if (protocol === undefined) return;
        const r = v.safeParse(HelloSchema, p.env.b);
        if (!r.success) throw new InvalidMessageError(`hello: ${describeIssues(r.issues)}`);
        const pub = fromBase64Url(r.output.pub);
        if (!v.is(NodeIdSchema, p.env.f)) throw new InvalidMessageError('hello: bad node id');
        if (deviceOfNode(p.env.f) !== (await deviceIdOf(ctx.subtle, pub))) {
          throw new HandshakeError(
            'IDENTITY_MISMATCH',
            `node id ${p.env.f} does not match its key`,
          );
        }
        peerHello = { ...r.output, nodeId: p.env.f, protocol };
        let t: ReturnType<typeof transcripts>;
        try {
          t = transcripts();
        } catch (e) {
          // No binding to sign (channel-binding.ts): say so, rather than just hanging up.
          if (!(e instanceof WosError)) throw e;
          await refuse(e.code, `node ${ctx.nodeId}: ${e.message}`);
          fail(e, REJECT_LINGER_MS);
          return;
        }
        const sig = await ctx.identity.sign(t.sig.self);
        const mac = await ctx.subtle.sign('HMAC', ctx.meshAuthKey, t.mac.self as BufferSource);
        await send('auth', {
          sig: toBase64Url(sig),
          mac: toBase64Url(new Uint8Array(mac)),
          fp: t.fps,
        });
        return;
      }
      if (p.env.t === 'auth') {
        if (!peerHello) throw new InvalidMessageError('auth before hello');
        const r = v.safeParse(AuthSchema, p.env.b);
        if (!r.success) throw new InvalidMessageError(`auth: ${describeIssues(r.issues)}`);
        const t = transcripts();
        const macOk = await ctx.subtle.verify(
          'HMAC',
          ctx.meshAuthKey,
          fromBase64Url(r.output.mac) as BufferSource,
          t.mac.peer as BufferSource,
        );
        if (!macOk) {
          // A relay that paired two dialers (or two listeners) gives both ends the same role:
          // then the peer's MAC fits the transcript with our role on its side.
          const mirrored = await ctx.subtle.verify(
            'HMAC',
            ctx.meshAuthKey,
            fromBase64Url(r.output.mac) as BufferSource,
            t.mac.mirrored as BufferSource,
          );
          if (mirrored) throw new ChannelInterceptedError(peerHello.nodeId, t.fps, r.output.fp);
          await send('reject', {
            code: 'MESH_KEY_MISMATCH',
            message: 'wrong mesh key',
          }).catch(() => {});
          throw new MeshKeyMismatchError(peerHello.nodeId);
        }
        const sigOk = await verifySignature(
          ctx.subtle,
          fromBase64Url(peerHello.pub),
          t.sig.peer,
          fromBase64Url(r.output.sig),
        );
        if (!sigOk) {
          // Its own view of the certificates is unproven, but it tells a relay from a bad key.
          const theirFps = r.output.fp;
          if (theirFps[0] !== t.fps[0] || theirFps[1] !== t.fps[1]) {
            throw new ChannelInterceptedError(peerHello.nodeId, t.fps, theirFps);
          }
          throw new HandshakeError(
            'BAD_SIGNATURE',
            `node ${peerHello.nodeId} did not sign this handshake with the key of its id`,
          );
        }
        const verdict = await admission.decide({
          nodeId: peerHello.nodeId,
          deviceId: deviceOfNode(peerHello.nodeId),
          kind: peerHello.kind,
          deviceKey: fromBase64Url(peerHello.pub),
          certificate: peerHello.cert,
          ...(peerHello.claim ? { claim: peerHello.claim } : {}),
        });
        if (!verdict.admit) {
          await send('reject', {
            code: verdict.code.slice(0, 64),
            message: verdict.message.slice(0, 1000),
          }).catch(() => {});
          fail(
            new AdmissionRefusedError(
              verdict.code,
              `refused node ${peerHello.nodeId}: ${verdict.message}`,
              false,
            ),
            REJECT_LINGER_MS,
          );
          return;
        }
        selfAdmits = true;
        await send('admit', {});
        if (peerAdmits) admit();
        return;
      }
      throw new InvalidMessageError(`'${p.env.t}' before the handshake finished`);
    };

    /**
     * Reads the peer's version range before anything else of its hello: a newer build's hello
     * may not fit this build's schema. On a mismatch the peer gets a `reject` saying so and the
     * channel lingers for it to arrive; undefined means the handshake failed.
     */
    const checkVersion = async (p: Packet): Promise<number | undefined> => {
      // The transport's id for the peer: nothing of its hello is proven yet.
      const peer = channel.remoteId;
      let refusal: WosError;
      try {
        theirs = readHelloVersion(p.env.b, peer);
        const common = negotiateVersion(ours, theirs);
        if (common !== undefined) return common;
        refusal = new ProtocolMismatchError(peer, ours, theirs);
        await refuse('PROTOCOL_MISMATCH', mismatchMessageForPeer(ctx.nodeId, ours, theirs));
      } catch (e) {
        if (!(e instanceof ProtocolVersionMalformedError)) throw e;
        refusal = e;
        await refuse(e.code, `node ${ctx.nodeId} could not read your hello's protocol version`);
      }
      fail(refusal, REJECT_LINGER_MS);
      return undefined;
    };
    const refuse = (code: string, message: string): Promise<void> =>
      send('reject', { code, message: message.slice(0, 1000) }).catch(() => {});

    // Transcripts name the signer's role so a signature cannot be reflected back.
    const transcripts = (): {
      mac: { self: Uint8Array; peer: Uint8Array; mirrored: Uint8Array };
      sig: { self: Uint8Array; peer: Uint8Array };
      fps: [string, string];
    } => {
      const peer = peerHello!;
      const init = channel.initiator;
      const [initNonce, respNonce] = init ? [myNonce, peer.nonce] : [peer.nonce, myNonce];
      const [initId, respId] = init ? [ctx.nodeId, peer.nodeId] : [peer.nodeId, ctx.nodeId];
      const role = (initiator: boolean): string => (initiator ? 'initiator' : 'responder');
      const { local, remote } = channel.binding;
      const fps: [string, string] = init ? [local, remote] : [remote, local];
      const ranges = init ? [ours, theirs!] : [theirs!, ours];
      const self = macTranscript(ctx, initNonce, respNonce, [initId, respId, role(init)]);
      const other = macTranscript(ctx, initNonce, respNonce, [initId, respId, role(!init)]);
      // What the peer MACs if it believes it holds our role too (see the MAC check).
      const [mInit, mResp] = init ? [peer.nonce, myNonce] : [myNonce, peer.nonce];
      const [mInitId, mRespId] = init ? [peer.nodeId, ctx.nodeId] : [ctx.nodeId, peer.nodeId];
      const mirrored = macTranscript(ctx, mInit, mResp, [mInitId, mRespId, role(init)]);
      return {
        mac: { self, peer: other, mirrored },
        sig: { self: sigTranscript(self, ranges, fps), peer: sigTranscript(other, ranges, fps) },
        fps,
      };
    };

    const admit = (): void => {
      if (done) return;
      done = true;
      ctx.clock.clearTimeout(timer);
      const peer = peerHello!;
      const linkPeer: LinkPeer = {
        nodeId: peer.nodeId,
        deviceId: deviceOfNode(peer.nodeId),
        kind: peer.kind,
        protocol: peer.protocol,
        publicKey: fromBase64Url(peer.pub),
      };
      if (peer.cert) linkPeer.certificate = peer.cert;
      const l: Link = {
        peer: linkPeer,
        framed,
        send: (pk) => framed.sendReserved(encodePacket(pk, 1)),
        close: () => channel.close(),
        onReject: undefined,
        onClose: undefined,
        get onPacket() {
          return handler;
        },
        set onPacket(h) {
          handler = h;
          if (h) for (const q of queued.splice(0)) h(q);
        },
      };
      let handler: ((p: Packet) => void) | undefined;
      link = l;
      resolve(l);
    };

    const cert = admission.certificate();
    const claim = admission.claim?.();
    void send('hello', {
      ...helloVersionFields(ours),
      kind: ctx.kind,
      pub: toBase64Url(ctx.identity.publicKey),
      nonce: myNonce,
      ...(cert ? { cert } : {}),
      ...(claim ? { claim } : {}),
    }).catch((e: unknown) => fail(new HandshakeError('CHANNEL_CLOSED', String(e))));
  });
}
