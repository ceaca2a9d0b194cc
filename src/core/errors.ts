/**
 * Every error WOS raises is a `WosError` with a stable `code`, so callers and UIs branch on the
 * code, never on message text. Messages say what was wrong and what to do.
 */
export class WosError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A request got no answer in time. */
export class TimeoutError extends WosError {
  constructor(what: string, ms: number) {
    super(
      'TIMEOUT',
      `${what} got no answer within ${ms} ms; the peer may be gone or busy, retry later`,
    );
  }
}

/** The caller aborted through its AbortSignal. */
export class AbortError extends WosError {
  constructor(what: string, reason?: unknown) {
    super('ABORTED', `${what} was aborted${reason instanceof Error ? `: ${reason.message}` : ''}`);
  }
}

/** A message from a peer failed validation; it is dropped and counted, never used. */
export class InvalidMessageError extends WosError {
  constructor(detail: string) {
    super('INVALID_MESSAGE', `rejected a malformed peer message: ${detail}`);
  }
}

/** A message exceeded the size limit. */
export class MessageTooLargeError extends WosError {
  constructor(size: number, limit: number) {
    super(
      'MESSAGE_TOO_LARGE',
      `message of ${size} bytes exceeds the ${limit}-byte limit; split it`,
    );
  }
}

/** A peer could not prove it knows the mesh key, or its identity proof was wrong. */
export class HandshakeError extends WosError {}

/** No direct channel and no relay route to the target node. */
export class UnreachableError extends WosError {
  constructor(nodeId: string) {
    super(
      'UNREACHABLE',
      `node ${nodeId} is not reachable directly or through a relay; it may have left`,
    );
  }
}

/** Bad argument at the API edge. */
export class ArgumentError extends WosError {
  constructor(message: string) {
    super('BAD_ARGUMENT', message);
  }
}

/** The node is not (or no longer) running. */
export class ClosedError extends WosError {
  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
  }
}

/** A remote handler failed; carries the remote code and message. */
export class RemoteError extends WosError {}

export function abortReason(signal: AbortSignal | undefined, what: string): AbortError | undefined {
  return signal?.aborted ? new AbortError(what, signal.reason) : undefined;
}
