/**
 * The promise-based client. One connection, shared by concurrent calls:
 * each request is written at once and its answer matched by id.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientClosedError, DaemonUnavailableError, ProtocolError, VaultError } from './errors.js';
import { Connection, ConnectionLost, type SocketFactory } from './connection.js';
import { Watcher, type WatchOptions } from './watch.js';
import {
  MAX_RESPONSE_LINE,
  watchParams,
  checkPath,
  encodeRequest,
  setParams,
  valueBytes,
  valueText,
  type Params,
  type Response,
} from './protocol.js';

/** Milliseconds to wait for a connection, or for the next answer while requests are pending. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Options of {@link VaultClient}. */
export interface VaultClientOptions {
  /** The daemon's socket. Default: {@link defaultSocketPath}. */
  socketPath?: string;
  /** The token. Default: {@link defaultToken}; `""` means no token (the local owner). */
  token?: string;
  /**
   * Bound on connecting, and on the wait for the daemon's next answer while
   * requests are pending (a long pipelined batch is fine while answers keep
   * coming); 0 waits forever. Default 10 000.
   */
  timeoutMs?: number;
  /** Longest answer line accepted, in bytes. Default 4 MiB. */
  maxLineBytes?: number;
  /** Makes the socket instead of `net.createConnection({ path })` (for tests). */
  socketFactory?: SocketFactory;
}

/** The result of `health`. */
export interface HealthResult {
  status: string;
  protocol: number;
  version: string;
  [field: string]: unknown;
}

/** Names (environment variable names, say) mapped to vault paths. */
export type PathMapping = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

// Methods that may be sent again after a connection died mid-request.
const IDEMPOTENT = new Set(['get', 'list', 'health']);

/** The system daemon's socket (deploy/jawn-vault.socket). */
export const SYSTEM_SOCKET = '/run/jawn-vault/jawn-vault.sock';

/**
 * The daemon's socket, by the same rule as the Go client: `$VAULT_SOCKET`,
 * else `$XDG_RUNTIME_DIR/jawn-vault.sock`, else {@link SYSTEM_SOCKET} if it
 * exists (a system service has no `$XDG_RUNTIME_DIR`), else
 * `/run/user/<uid>/jawn-vault.sock`.
 */
export function defaultSocketPath(): string {
  const explicit = process.env.VAULT_SOCKET;
  if (explicit) return explicit;
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime) return join(runtime, 'jawn-vault.sock');
  if (existsSync(SYSTEM_SOCKET)) return SYSTEM_SOCKET;
  return `/run/user/${process.getuid?.() ?? 0}/jawn-vault.sock`;
}

/**
 * The token, by the same rule as vault-exec: `$VAULT_TOKEN`, else the file
 * `$CREDENTIALS_DIRECTORY/jawn-vault-token` (systemd's
 * `LoadCredential=jawn-vault-token:...`), else `""` (no token).
 */
export function defaultToken(): string {
  const token = process.env.VAULT_TOKEN;
  if (token) return token;
  const creds = process.env.CREDENTIALS_DIRECTORY;
  if (creds) {
    try {
      return readFileSync(join(creds, 'jawn-vault-token'), 'utf8').trim();
    } catch {
      // no credential: no token
    }
  }
  return '';
}

/**
 * A client for the jawn-vault daemon.
 *
 * The first call connects; `close()` ends the connection and the client
 * (later calls throw ClientClosedError). An idle connection does not keep
 * the process alive. When the daemon restarted since the last call, the
 * dead connection is replaced before sending. When a connection dies after
 * a request went out, `get`, `getBytes`, `getMany`, `list` and `health` are
 * sent once more on a fresh connection; `set` and `delete` are not (the
 * daemon may have carried them out) and throw DaemonUnavailableError.
 */
export class VaultClient {
  /** The socket this client talks to. */
  readonly socketPath: string;
  /** The timeout in milliseconds (0: none); see {@link VaultClientOptions.timeoutMs}. */
  readonly timeoutMs: number;
  readonly #token: string;
  readonly #maxLine: number;
  readonly #factory: SocketFactory | undefined;
  #conn: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  #closed = false;
  #nextId = 0;

  constructor(options: VaultClientOptions = {}) {
    this.socketPath = options.socketPath || defaultSocketPath();
    this.#token = options.token ?? defaultToken();
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#maxLine = options.maxLineBytes ?? MAX_RESPONSE_LINE;
    this.#factory = options.socketFactory;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Connect now instead of on the first call. */
  async connect(): Promise<void> {
    await this.#connection();
  }

  /** Close the connection; pending calls fail. Closing twice is harmless. */
  async close(): Promise<void> {
    this.#closed = true;
    const conn = this.#conn;
    this.#conn = null;
    if (conn) await conn.close();
  }

  /** The value at `path` as text. A value that is not UTF-8 throws BinaryValueError: use `getBytes`. */
  async get(path: string): Promise<string> {
    return valueText(await this.#call('get', { path: checkPath(path) }));
  }

  /** The value at `path` as bytes, whichever form it travels in. */
  async getBytes(path: string): Promise<Buffer> {
    return valueBytes(await this.#call('get', { path: checkPath(path) }));
  }

  /** Store `value` at `path`: a string as UTF-8, bytes exactly (as `value_b64` when not UTF-8). */
  async set(path: string, value: string | Uint8Array): Promise<void> {
    await this.#call('set', setParams(path, value));
  }

  /** Delete the entry at `path` (NotFoundError if there is none). */
  async delete(path: string): Promise<void> {
    await this.#call('delete', { path: checkPath(path) });
  }

  /** The sorted paths the token may read under `prefix` (a folder like `"claude/"` or any leading part). */
  async list(prefix?: string): Promise<string[]> {
    const params: Record<string, string> = {};
    if (prefix) params.prefix = checkPath(prefix, 'prefix');
    const paths = (await this.#call('list', params)).paths;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
      throw new ProtocolError('the daemon answered list without a list of paths');
    }
    return paths as string[];
  }

  /** The daemon's health: `{status: "ok", protocol: 1, version}`. Needs no token. */
  async health(): Promise<HealthResult> {
    return (await this.#call('health', {})) as HealthResult;
  }

  /**
   * Fetch many values in one round trip: `mapping` maps names (typically
   * environment variable names) to paths; the result maps the same names
   * to the values, as text. All requests are written at once, then the
   * answers read. If any fails, the first failure in the mapping's order is
   * thrown, its message prefixed with the name.
   */
  async getMany(mapping: PathMapping): Promise<Record<string, string>> {
    const items = [...(mapping instanceof Map ? mapping.entries() : Object.entries(mapping))].map(
      ([name, path]): [string, string] => [name, checkPath(path, `path for ${name}`)],
    );
    if (items.length === 0) return {};
    const answers = await this.#roundtrip(
      items.map(([, path]) => ({ method: 'get', params: { path } })),
      true,
    );
    return Object.fromEntries(
      items.map(([name], i) => {
        try {
          return [name, valueText(resultOf(answers[i]!))];
        } catch (err) {
          if (err instanceof VaultError) err.message = `${name}: ${err.message}`;
          throw err;
        }
      }),
    );
  }

  /**
   * Subscribe to changes on a connection of its own (this client's
   * connection stays free for requests) and resolve with a {@link Watcher}
   * once the daemon has answered. `paths` lists paths, `prefix` names a
   * folder; neither watches everything the token may read. Events come only
   * for paths the token may read (naming an unreadable path is refused with
   * PermissionDeniedError). The SDK caches nothing, so a `get` after a
   * `'change'` reads the new value.
   */
  async watch(options: WatchOptions = {}): Promise<Watcher> {
    this.#checkOpen();
    return Watcher.open({
      socketPath: this.socketPath,
      token: this.#token,
      timeoutMs: this.timeoutMs,
      maxLine: this.#maxLine,
      factory: this.#factory,
      params: watchParams(options),
    });
  }

  async #call(method: string, params: Params): Promise<Record<string, unknown>> {
    const [answer] = await this.#roundtrip([{ method, params }], IDEMPOTENT.has(method));
    return resultOf(answer!);
  }

  async #roundtrip(calls: readonly { method: string; params: Params }[], idempotent: boolean): Promise<Response[]> {
    this.#checkOpen();
    const ids = calls.map(() => `js-${++this.#nextId}`);
    const lines = calls.map((c, i) => encodeRequest(ids[i]!, c.method, c.params, this.#token));
    for (let attempt = 1; ; attempt++) {
      const conn = await this.#connection();
      try {
        return await conn.exchange(ids, lines);
      } catch (err) {
        if (!(err instanceof ConnectionLost)) throw err;
        if (attempt === 1 && (idempotent || !err.sent)) continue;
        throw new DaemonUnavailableError(
          err.sent && !idempotent
            ? 'the connection to the daemon was lost after the request was sent; it may or may not have been carried out'
            : 'the connection to the daemon was lost',
        );
      }
    }
  }

  #connection(): Promise<Connection> {
    this.#checkOpen();
    if (this.#conn?.usable()) return Promise.resolve(this.#conn);
    if (!this.#connecting) {
      const old = this.#conn;
      this.#conn = null;
      void old?.close();
      this.#connecting = Connection.open(this.socketPath, this.timeoutMs, this.#maxLine, this.#factory).then(
        (conn) => {
          this.#connecting = null;
          if (this.#closed) {
            void conn.close();
            throw new ClientClosedError();
          }
          this.#conn = conn;
          return conn;
        },
        (err: unknown) => {
          this.#connecting = null;
          throw err;
        },
      );
    }
    return this.#connecting;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClientClosedError();
  }
}

function resultOf(answer: Response): Record<string, unknown> {
  if (answer.error) throw answer.error;
  return answer.result;
}
