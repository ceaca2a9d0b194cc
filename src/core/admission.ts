import type { Certificate, DeviceKind } from './account/certificate.ts';

/**
 * Admission: after a peer has proven its node id (device key signature) and the mesh key (HMAC)
 * in the handshake, this decides whether it joins. A refusal names a code (e.g. CERT_MISSING)
 * that travels to the refused peer in the handshake's `reject`, so both sides report the same
 * reason. The default admits every peer that proved the mesh key.
 */
export interface ProvenPeer {
  readonly nodeId: string;
  readonly deviceId: string;
  readonly kind: DeviceKind;
  /** The ECDSA P-256 device key the peer signed the handshake with (65 bytes). */
  readonly deviceKey: Uint8Array;
  /** The certificate its `hello` carried (shape checked, signature not yet). */
  readonly certificate: Certificate | undefined;
  /** The invite claim its `hello` carried (shared meshes; shape checked, nothing else). */
  readonly claim?: unknown;
}

export type AdmissionVerdict =
  | { readonly admit: true }
  | { readonly admit: false; readonly code: string; readonly message: string };

export interface Admission {
  /** The certificate this node shows in its own `hello`, if it has one. */
  certificate(): Certificate | undefined;
  /** An invite claim this node shows in its own `hello` (shared meshes, member-list.ts). */
  claim?(): unknown;
  decide(peer: ProvenPeer): Promise<AdmissionVerdict>;
}

/** Codes a refused node accepts from its peer's `reject` (anything else reads as REJECTED). */
export const ADMISSION_CODE_RE = /^((CERT|ADMISSION|MEMBERS|INVITE)_[A-Z_]{1,40}|NOT_A_MEMBER)$/;

/** Today's rule for plain meshes: whoever proved the mesh key is in. */
export const openAdmission: Admission = {
  certificate: () => undefined,
  decide: () => Promise.resolve({ admit: true }),
};
