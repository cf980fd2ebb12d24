/**
 * Watching for changes: `watch` on a connection of its own (never the
 * client's request connection). Only here are event lines (no `id`)
 * accepted.
 *
 * @module
 */

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { DaemonUnavailableError, ProtocolError, TimeoutError } from './errors.js';
import { connectError, type SocketFactory } from './connection.js';
import { LineSplitter, encodeRequest, isWatchEvent, parseWatchLine, sameId, type Params, type WatchEvent } from './protocol.js';

/** What to watch: the listed `paths`, or every path under `prefix`; neither: everything the token may read. */
export interface WatchOptions {
  paths?: readonly string[];
  prefix?: string;
}

/** Payload of a `'change'` event: the entry at `path` was written or deleted. */
export interface ChangeEvent {
  path: string;
  version: number;
}

/** Payload of a `'stale'` event: the store changed in a way that names no entry, or the watcher fell behind. */
export interface StaleEvent {
  version: number;
}

const WATCH_ID = 'js-watch';

/** Internal: how a watcher is opened. */
export interface WatchSetup {
  socketPath: string;
  token: string;
  timeoutMs: number;
  maxLine: number;
  factory: SocketFactory | undefined;
  params: Params;
}

export interface Watcher {
  on(event: 'change', listener: (ev: ChangeEvent) => void): this;
  on(event: 'stale', listener: (ev: StaleEvent) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'change', listener: (ev: ChangeEvent) => void): this;
  once(event: 'stale', listener: (ev: StaleEvent) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * Changes pushed by the daemon, on a connection of its own. Made by
 * `VaultClient.watch`, which resolves once subscribed ({@link version} is
 * the store's version then).
 *
 * Emits `'change'` ({path, version}), `'stale'` ({version}: re-read
 * everything you hold), `'error'` (the connection was lost — daemon
 * stopped, token revoked or expired — or the daemon broke the protocol;
 * emitted only when an `'error'` listener is attached, so a lost watcher
 * never crashes the process) and finally `'close'`. It does not reconnect:
 * changes while it was away would be missed; make a new one. An open
 * watcher keeps the process alive; `close()` ends it. It is also
 * async-iterable over {@link WatchEvent}s (the iteration ends on `close()`
 * and throws the error of a lost connection).
 */
export class Watcher extends EventEmitter {
  /** The store's version when the subscription was answered. */
  version = 0;
  #closed = false;
  #done = false;
  #error: Error | undefined;
  readonly #closedPromise: Promise<void>;

  private constructor(
    private readonly socket: net.Socket,
    private readonly splitter: LineSplitter,
  ) {
    super();
    this.#closedPromise = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  }

  /** Whether the watcher has ended (closed, or its connection lost). */
  get closed(): boolean {
    return this.#done;
  }

  /** Open a connection, subscribe, and resolve with the watcher. */
  static open(setup: WatchSetup): Promise<Watcher> {
    return new Promise((resolve, reject) => {
      let socket: net.Socket;
      try {
        socket = setup.factory ? setup.factory(setup.socketPath) : net.createConnection({ path: setup.socketPath });
      } catch (err) {
        reject(connectError(setup.socketPath, err as NodeJS.ErrnoException));
        return;
      }
      const splitter = new LineSplitter(setup.maxLine);
      let settled = false;
      const finish = (err: unknown, w?: Watcher) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.off('connect', onConnect);
        if (err !== undefined) {
          socket.destroy();
          reject(err);
        } else {
          resolve(w!);
        }
      };
      const timer =
        setup.timeoutMs > 0 && Number.isFinite(setup.timeoutMs)
          ? setTimeout(() => finish(new TimeoutError(`no answer to watch from the daemon within ${setup.timeoutMs} ms`)), setup.timeoutMs)
          : undefined;
      let connected = false;
      const early: WatchEvent[] = [];
      const onError = (err: NodeJS.ErrnoException) =>
        finish(connected ? new DaemonUnavailableError('the connection to the daemon was lost') : connectError(setup.socketPath, err));
      const onClose = () => finish(new DaemonUnavailableError('the connection to the daemon was lost'));
      const onConnect = () => {
        connected = true;
        socket.write(encodeRequest(WATCH_ID, 'watch', setup.params, setup.token));
      };
      let watcher: Watcher | undefined;
      const onData = (chunk: Buffer) => {
        try {
          for (const line of splitter.push(chunk)) {
            const item = parseWatchLine(line);
            if (isWatchEvent(item)) {
              early.push(item);
              continue;
            }
            if (watcher) throw new ProtocolError('the daemon sent an answer to no pending request');
            if (item.error) return finish(item.error);
            if (!sameId(item.id, WATCH_ID)) {
              return finish(new ProtocolError('the daemon answered a different request id than the one sent'));
            }
            const version = item.result.version;
            if (typeof version !== 'number') return finish(new ProtocolError('the daemon answered watch without a version'));
            watcher = new Watcher(socket, splitter);
            watcher.version = version;
          }
        } catch (err) {
          return finish(err);
        }
        if (watcher) {
          finish(undefined, watcher);
          watcher.#attach(early);
        }
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', onClose);
      if (!socket.connecting && socket.readyState === 'open') onConnect();
      else socket.once('connect', onConnect);
    });
  }

  #attach(early: WatchEvent[]): void {
    const s = this.socket;
    s.on('data', (chunk: Buffer) => this.#onData(chunk));
    s.on('error', () => this.#end(new DaemonUnavailableError('the watch connection to the daemon was lost')));
    s.on('end', () => this.#end(new DaemonUnavailableError('the watch connection to the daemon was lost (daemon stopped, or the token was revoked or expired)')));
    s.on('close', () => this.#end(new DaemonUnavailableError('the watch connection to the daemon was lost')));
    // Data that came with the answer is already split; deliver after listeners attach.
    if (early.length > 0) process.nextTick(() => early.forEach((ev) => this.#emitEvent(ev)));
  }

  #onData(chunk: Buffer): void {
    if (this.#done) return;
    try {
      for (const line of this.splitter.push(chunk)) {
        const item = parseWatchLine(line);
        if (!isWatchEvent(item)) {
          throw item.error && item.id === null ? item.error : new ProtocolError('the daemon sent an answer to no pending request');
        }
        this.#emitEvent(item);
        if (this.#done) return;
      }
    } catch (err) {
      this.#end(err as Error);
    }
  }

  #emitEvent(ev: WatchEvent): void {
    if (this.#done) return;
    if (ev.kind === 'changed') this.emit('change', { path: ev.path!, version: ev.version });
    else if (ev.kind === 'stale') this.emit('stale', { version: ev.version });
    this.emit('event', ev);
  }

  #end(err: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#closed && err) {
      this.#error = err;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    }
    this.splitter.clear();
    this.socket.destroy();
    this.emit('close');
  }

  /** Stop watching and close the connection ('close' is emitted). Closing twice is harmless. */
  close(): Promise<void> {
    this.#closed = true;
    this.#end(undefined);
    return this.#closedPromise;
  }

  /** The events as an async iterator; ends on close(), throws when the connection is lost. */
  [Symbol.asyncIterator](): AsyncIterableIterator<WatchEvent> {
    const queue: WatchEvent[] = [];
    const waiters: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void }[] = [];
    const onEvent = (ev: WatchEvent) => {
      const w = waiters.shift();
      if (w) w.resolve({ value: ev, done: false });
      else queue.push(ev);
    };
    const onClose = () => {
      for (const w of waiters.splice(0)) {
        if (this.#error) w.reject(this.#error);
        else w.resolve({ value: undefined, done: true });
      }
      cleanup();
    };
    const cleanup = () => {
      this.off('event', onEvent);
      this.off('close', onClose);
    };
    this.on('event', onEvent);
    this.on('close', onClose);
    const it: AsyncIterableIterator<WatchEvent> = {
      next: () => {
        const ev = queue.shift();
        if (ev) return Promise.resolve({ value: ev, done: false });
        if (this.#done) {
          cleanup();
          return this.#error ? Promise.reject(this.#error) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      },
      return: async () => {
        cleanup();
        await this.close();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
