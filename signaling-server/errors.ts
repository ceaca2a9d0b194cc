/**
 * Every error the signaling server returns is a `ServerError` with a stable `code` (clients
 * branch on it, never on message text) and the HTTP status it maps to. HTTP responses carry
 * `{ error: { code, message } }`.
 */
export class ServerError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
  }

  toJSON(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** The request body or parameters failed validation. */
export class BadRequestError extends ServerError {
  constructor(message: string) {
    super('BAD_REQUEST', 400, message);
  }
}

/** The body was not parseable JSON. */
export class MalformedJsonError extends ServerError {
  constructor() {
    super('MALFORMED_JSON', 400, 'request body is not valid JSON');
  }
}

/** A POST without `Content-Type: application/json`. */
export class UnsupportedMediaTypeError extends ServerError {
  constructor() {
    super(
      'UNSUPPORTED_MEDIA_TYPE',
      415,
      'send the body as JSON with Content-Type: application/json',
    );
  }
}

/** The body exceeded `maxBodyBytes`. */
export class PayloadTooLargeError extends ServerError {
  constructor(limit: number) {
    super('PAYLOAD_TOO_LARGE', 413, `request body exceeds the ${limit}-byte limit`);
  }
}

/** The caller's IP ran out of rate-limit tokens; retry after `retryAfterS` seconds. */
export class RateLimitedError extends ServerError {
  readonly retryAfterS: number;
  constructor(retryAfterS: number) {
    super('RATE_LIMITED', 429, `too many requests; retry after ${retryAfterS} s`);
    this.retryAfterS = retryAfterS;
  }
}

/** The peer id is connected but the token is not the one its PeerJS socket registered with. */
export class InvalidTokenError extends ServerError {
  constructor() {
    super('INVALID_TOKEN', 403, 'token does not match the PeerJS token of this peer id');
  }
}

/** The peer id has no open PeerJS socket on this server (open the Peer first, then join). */
export class PeerNotConnectedError extends ServerError {
  constructor(peerId: string) {
    super(
      'PEER_NOT_CONNECTED',
      409,
      `peer ${peerId} is not connected to the signaling server; wait for the PeerJS 'open' event and retry`,
    );
  }
}

/** The mesh already has `maxPeersPerMesh` members. */
export class MeshFullError extends ServerError {
  constructor(limit: number) {
    super('MESH_FULL', 409, `the mesh already has ${limit} members`);
  }
}

/** The peer is already a member of `maxMeshesPerPeer` meshes. */
export class TooManyMeshesError extends ServerError {
  constructor(limit: number) {
    super('TOO_MANY_MESHES', 409, `a peer may be a member of at most ${limit} meshes`);
  }
}

/** No such route or file. */
export class NotFoundError extends ServerError {
  constructor(what: string) {
    super('NOT_FOUND', 404, `${what} not found`);
  }
}

/** `staticDir` has no index.html: the app has not been built. */
export class AppNotBuiltError extends ServerError {
  constructor(dir: string) {
    super('APP_NOT_BUILT', 404, `no index.html in ${dir}; run \`npm run build\` first`);
  }
}

/** The server is shutting down. */
export class ShuttingDownError extends ServerError {
  constructor() {
    super('SHUTTING_DOWN', 503, 'the server is shutting down; retry shortly');
  }
}

/** Invalid server configuration (options, flags or environment); raised at startup. */
export class ConfigError extends ServerError {
  constructor(message: string) {
    super('INVALID_CONFIG', 500, message);
  }
}
