/**
 * One socket to the daemon, a FIFO of pending requests, and the matching of
 * answers to them. The daemon answers in request order, so the oldest
 * pending request owns the next answer; its id is checked all the same.
 *
 * @module
 */

import * as net from 'node:net';
import { ClientClosedError, DaemonUnavailableError, ProtocolError, TimeoutError, type VaultError } from './errors.js';
import { LineSplitter, parseResponse, sameId, type Response } from './protocol.js';

/** Makes the socket for a connection: `(socketPath) => net.Socket`, connected or connecting. */
export type SocketFactory = (socketPath: string) => net.Socket;

/**
 * The connection died with a request pending; `sent` says whether the
 * daemon may have received the request. Internal: the client turns it into
 * a retry or a DaemonUnavailableError.
 */
export class ConnectionLost extends Error {
  constructor(readonly sent: boolean) {
    super('connection lost');
  }
}

interface Pending {
  readonly id: string;
  readonly resolve: (answer: Response) => void;
  readonly reject: (err: unknown) => void;
  written: boolean;
}

/** The error for a failed connect to `path`. */
export function connectError(path: string, err: NodeJS.ErrnoException): VaultError {
  switch (err.code) {
    case 'ENOENT':
      return new DaemonUnavailableError(
        `no daemon socket at ${path}; is jawn-vault running? (VAULT_SOCKET names another socket)`,
      );
    case 'ECONNREFUSED':
      return new DaemonUnavailableError(`nothing is listening on ${path}; is jawn-vault running?`);
    case 'EACCES':
    case 'EPERM':
      return new DaemonUnavailableError(`not allowed to connect to ${path}`);
    default:
      return new DaemonUnavailableError(`cannot connect to the daemon at ${path}: ${err.code ?? err.message}`);
  }
}

export class Connection {
  private pending: Pending[] = [];
  private readonly splitter: LineSplitter;
  private dead = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    maxLine: number,
    private readonly timeoutMs: number,
  ) {
    this.splitter = new LineSplitter(maxLine);
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.fail((p) => new ConnectionLost(p.written)));
    socket.on('close', () => this.fail((p) => new ConnectionLost(p.written)));
    socket.on('error', () => this.fail((p) => new ConnectionLost(p.written)));
    // An idle connection does not keep the process alive.
    socket.unref();
  }

  /** Connect to `path` (or take the factory's socket) within `timeoutMs`. */
  static open(path: string, timeoutMs: number, maxLine: number, factory?: SocketFactory): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      try {
        socket = factory ? factory(path) : net.createConnection({ path });
      } catch (err) {
        reject(connectError(path, err as NodeJS.ErrnoException));
        return;
      }
      const timer =
        timeoutMs > 0 && Number.isFinite(timeoutMs)
          ? setTimeout(() => {
              socket.destroy();
              reject(new TimeoutError(`timed out connecting to the daemon at ${path}`));
            }, timeoutMs)
          : undefined;
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(connectError(path, err));
      };
      const onConnect = () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new Connection(socket, maxLine, timeoutMs));
      };
      socket.once('error', onError);
      if (!socket.connecting && socket.readyState === 'open') onConnect();
      else socket.once('connect', onConnect);
    });
  }

  /** Whether new requests may be sent on this connection. */
  usable(): boolean {
    return !this.dead && !this.socket.destroyed && this.socket.readyState === 'open';
  }

  /**
   * Send the lines (one request each, ids in order) in one write and wait
   * for all their answers. Error answers are returned, not thrown.
   */
  async exchange(ids: readonly string[], lines: readonly string[]): Promise<Response[]> {
    if (!this.usable()) throw new ConnectionLost(false);
    const entries: Pending[] = [];
    const answers = ids.map(
      (id) =>
        new Promise<Response>((resolve, reject) => {
          const entry: Pending = { id, resolve, reject, written: false };
          entries.push(entry);
          this.pending.push(entry);
        }),
    );
    this.socket.ref();
    this.socket.write(lines.join(''), (err) => {
      if (!err) for (const e of entries) e.written = true;
    });
    if (!this.timer) this.arm();
    const settled = await Promise.allSettled(answers);
    const out: Response[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') throw s.reason;
      out.push(s.value);
    }
    return out;
  }

  // The timeout watches progress, not single calls: while requests are
  // pending, the next answer must come within timeoutMs. Answers come in
  // order, so a call queued behind many others is not timed out while the
  // daemon keeps answering, and a stalled daemon fails them all; the
  // connection is given up, since a late answer would be out of step.
  private arm(): void {
    if (this.timeoutMs > 0 && Number.isFinite(this.timeoutMs)) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        const message = `no answer from the daemon within ${this.timeoutMs} ms`;
        this.fail(() => new TimeoutError(message));
      }, this.timeoutMs);
    }
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Close the connection; pending calls fail with ClientClosedError. */
  close(): Promise<void> {
    this.fail(() => new ClientClosedError());
    return this.closedPromise;
  }

  private onData(chunk: Buffer): void {
    let lines: Buffer[];
    try {
      lines = this.splitter.push(chunk);
    } catch (err) {
      const message = (err as Error).message;
      this.fail(() => new ProtocolError(message));
      return;
    }
    for (const line of lines) {
      let answer: Response;
      try {
        answer = parseResponse(line);
      } catch (err) {
        const message = (err as Error).message;
        this.fail(() => new ProtocolError(message));
        return;
      }
      if (answer.id === null && answer.error) {
        // Tied to no request (busy, line_too_long): it goes to the oldest
        // caller, and the daemon is closing the connection.
        this.pending.shift()?.reject(answer.error);
        this.fail((p) => new ConnectionLost(p.written));
        return;
      }
      const head = this.pending.shift();
      if (!head) {
        this.fail(() => new ProtocolError('the daemon sent an answer to no pending request'));
        return;
      }
      if (!sameId(answer.id, head.id)) {
        this.pending.unshift(head);
        this.fail(() => new ProtocolError('the daemon answered a different request id than the one sent'));
        return;
      }
      head.resolve(answer);
      this.disarm();
      if (this.pending.length > 0) this.arm();
    }
    if (this.pending.length === 0 && !this.dead) this.socket.unref();
  }

  /** Mark the connection dead, fail every pending call and destroy the socket. */
  private fail(errorFor: (p: Pending) => unknown): void {
    this.dead = true;
    this.disarm();
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) p.reject(errorFor(p));
    this.splitter.clear();
    this.socket.destroy();
  }
}
