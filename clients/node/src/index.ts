/**
 * Jawn Vault client for Node.js: talk to the local jawn-vault daemon over
 * its Unix socket (protocol version 1, docs/PROTOCOL.md).
 *
 * ```ts
 * import { VaultClient } from '@jawn-vault/client';
 *
 * const vault = new VaultClient();
 * try {
 *   const token = await vault.get('claude/tokens/telegram-bot');
 * } finally {
 *   await vault.close();
 * }
 * ```
 *
 * Zero runtime dependencies. Every error extends {@link VaultError} and
 * carries a stable `code`.
 *
 * @module
 */

export { VaultClient, DEFAULT_TIMEOUT_MS, SYSTEM_SOCKET, defaultSocketPath, defaultToken } from './client.js';
export type { VaultClientOptions, HealthResult, PathMapping } from './client.js';
export type { SocketFactory } from './connection.js';
export { Watcher } from './watch.js';
export type { WatchOptions, ChangeEvent, StaleEvent } from './watch.js';
export type { WatchEvent } from './protocol.js';
export { PROTOCOL_VERSION, MAX_RESPONSE_LINE } from './protocol.js';
export {
  VaultError,
  DaemonUnavailableError,
  TimeoutError,
  ProtocolError,
  BinaryValueError,
  ClientClosedError,
  BadRequestError,
  LineTooLongError,
  UnknownMethodError,
  UnauthenticatedError,
  PermissionDeniedError,
  InvalidPathError,
  NotFoundError,
  BackendUnavailableError,
  AuditUnavailableError,
  BusyError,
  NameTakenError,
  InternalError,
  errorFromWire,
  WIRE_CODES,
} from './errors.js';
export type { RequestId } from './errors.js';

/** The version of this package; 1.x speaks protocol version 1. */
export const VERSION = '1.0.0';
