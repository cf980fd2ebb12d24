/**
 * The errors the client throws. Every one extends {@link VaultError}, which
 * sets `name` and a stable `code`: the daemon's wire code for errors the
 * daemon answered with (docs/PROTOCOL.md, "Error codes"), or a client-side
 * code for problems found by the client. Branch on the class or on `code`,
 * never on `message`; messages never contain a secret value or a token.
 *
 * ```
 * VaultError                      any error from this package (.code, .requestId)
 * ├── DaemonUnavailableError      daemon_unavailable: cannot connect, or the connection was lost
 * │   └── TimeoutError            timeout: no connection, or no next answer, within timeoutMs
 * ├── ProtocolError               protocol_error: the daemon sent a line that is not a valid answer
 * ├── BinaryValueError            binary_value: get() found a value that is not UTF-8 text
 * ├── ClientClosedError           client_closed: the client was used after close()
 * ├── BadRequestError             bad_request
 * │   └── LineTooLongError        line_too_long
 * ├── UnknownMethodError          unknown_method
 * ├── UnauthenticatedError        unauthenticated
 * ├── PermissionDeniedError       permission_denied
 * ├── InvalidPathError            invalid_path
 * ├── NotFoundError               not_found
 * ├── BackendUnavailableError     backend_unavailable
 * ├── AuditUnavailableError       audit_unavailable
 * ├── BusyError                   busy
 * ├── NameTakenError              name_taken
 * └── InternalError               internal
 * ```
 *
 * A code this client does not know is thrown as a plain `VaultError` with
 * that `code`; treat it like `internal`. Arguments of the wrong type throw
 * the built-in `TypeError`.
 *
 * @module
 */

/** The id of the request an error answers, when there is one. */
export type RequestId = string | number | null;

/** Base class of every error this package throws on purpose. */
export class VaultError extends Error {
  /** A stable snake_case code. */
  readonly code: string;
  /** The id of the request the daemon answered, or null. */
  readonly requestId: RequestId;

  constructor(message: string, code = 'internal', requestId: RequestId = null) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.requestId = requestId;
  }
}

/** Cannot connect to the daemon, or the connection was lost before the answer and the request cannot safely be sent again. */
export class DaemonUnavailableError extends VaultError {
  constructor(message: string, code = 'daemon_unavailable') {
    super(message, code);
  }
}

/** Connecting, or waiting for the daemon's next answer, took longer than `timeoutMs`; the connection is closed. */
export class TimeoutError extends DaemonUnavailableError {
  constructor(message: string) {
    super(message, 'timeout');
  }
}

/** The daemon sent a line that is not a valid answer (or answered another id); the connection is closed. */
export class ProtocolError extends VaultError {
  constructor(message: string) {
    super(message, 'protocol_error');
  }
}

/** `get()` found a value that is not valid UTF-8 (sent as `value_b64`); use `getBytes()`. */
export class BinaryValueError extends VaultError {
  constructor(message: string) {
    super(message, 'binary_value');
  }
}

/** The client was used after `close()`. */
export class ClientClosedError extends VaultError {
  constructor(message = 'this VaultClient has been closed; create a new one') {
    super(message, 'client_closed');
  }
}

/** The daemon could not decode the request (`bad_request`). */
export class BadRequestError extends VaultError {
  constructor(message: string, requestId: RequestId = null, code = 'bad_request') {
    super(message, code, requestId);
  }
}

/** The request line passed the daemon's limit (`line_too_long`, 64 KiB by default); the daemon closed the connection. */
export class LineTooLongError extends BadRequestError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, requestId, 'line_too_long');
  }
}

/** The daemon has no such method (`unknown_method`): it is older than this client. */
export class UnknownMethodError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'unknown_method', requestId);
  }
}

/** No token, or an unknown, expired, revoked or wrongly bound one (`unauthenticated`). */
export class UnauthenticatedError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'unauthenticated', requestId);
  }
}

/** The token's grants do not allow this method on this path (`permission_denied`), whether or not the entry exists. */
export class PermissionDeniedError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'permission_denied', requestId);
  }
}

/** The path breaks the path rules (`invalid_path`): empty segments, `.`/`..`, a leading `/` or `-`, control characters, ... */
export class InvalidPathError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'invalid_path', requestId);
  }
}

/** No entry (or token) by that name (`not_found`). */
export class NotFoundError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'not_found', requestId);
  }
}

/** The store could not be read or written: gpg, agent or disk (`backend_unavailable`). Retry later. */
export class BackendUnavailableError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'backend_unavailable', requestId);
  }
}

/** The daemon cannot write its audit log, so it serves no secrets (`audit_unavailable`). */
export class AuditUnavailableError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'audit_unavailable', requestId);
  }
}

/** The daemon's connection limit is reached (`busy`). Retry with backoff. */
export class BusyError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'busy', requestId);
  }
}

/**
 * `token.create` was given the name of a live (unrevoked) token
 * (`name_taken`). The request was well formed, so this is not a
 * BadRequestError: pick another name, or revoke that token first; a revoked
 * token's name is free again.
 */
export class NameTakenError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'name_taken', requestId);
  }
}

/** A bug in the daemon (`internal`); report it with the daemon log. */
export class InternalError extends VaultError {
  constructor(message: string, requestId: RequestId = null) {
    super(message, 'internal', requestId);
  }
}

interface ErrorClass {
  new (message: string, requestId?: RequestId): VaultError;
}

const byCode: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['bad_request', BadRequestError],
  ['line_too_long', LineTooLongError],
  ['unknown_method', UnknownMethodError],
  ['unauthenticated', UnauthenticatedError],
  ['permission_denied', PermissionDeniedError],
  ['invalid_path', InvalidPathError],
  ['not_found', NotFoundError],
  ['backend_unavailable', BackendUnavailableError],
  ['audit_unavailable', AuditUnavailableError],
  ['busy', BusyError],
  ['name_taken', NameTakenError],
  ['internal', InternalError],
]);

/** The wire codes of protocol v1, each with its class. */
export const WIRE_CODES: readonly string[] = [...byCode.keys()];

/**
 * The error for an error answer: the class mapped from `code`, or a plain
 * VaultError carrying `code` when this client does not know the code.
 */
export function errorFromWire(code: string, message: string, requestId: RequestId = null): VaultError {
  const cls = byCode.get(code);
  return cls ? new cls(message, requestId) : new VaultError(message, code, requestId);
}
