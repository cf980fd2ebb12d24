/**
 * Protocol version 1 on the client side: encoding requests, splitting the
 * byte stream into lines, strictly decoding answers, and the two forms of
 * values. No I/O happens here.
 *
 * @module
 */

import { Buffer } from 'node:buffer';
import {
  BinaryValueError,
  InvalidPathError,
  ProtocolError,
  VaultError,
  errorFromWire,
  type RequestId,
} from './errors.js';

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * The longest answer line accepted by default (as the Go client). The
 * daemon bounds request lines at 64 KiB, but stored values (up to 1 MiB,
 * more in base64) and long lists can be bigger; the client still stops at a
 * limit rather than buffer whatever a peer sends.
 */
export const MAX_RESPONSE_LINE = 4 * 1024 * 1024;

/** Request params: a JSON object, or null. */
export type Params = Record<string, unknown> | null;

/** One decoded answer: exactly one of `result` and `error`. */
export type Response =
  | { id: RequestId; result: Record<string, unknown>; error?: undefined }
  | { id: RequestId; result?: undefined; error: VaultError };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Whether a string is well-formed UTF-16 (no lone surrogates), so that it
 * has an exact UTF-8 form. JSON.stringify would send a lone surrogate as an
 * escape the daemon can only turn into U+FFFD.
 */
export function isWellFormed(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  if (typeof native === 'function') return native.call(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      return false;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

/**
 * Encode one request line, newline included. All four fields are always
 * present (`auth` may be `""`, `params` may be null), so the decoded
 * request equals what was encoded.
 */
export function encodeRequest(id: RequestId, method: string, params: Params, auth = ''): string {
  return JSON.stringify({ id, auth, method, params }) + '\n';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is RequestId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/**
 * Decode one answer line (without its newline) strictly: a JSON object
 * with `id` (string, number or null) and exactly one of `result` (an
 * object) or `error` (`{code, message}`, code a non-empty string); no other
 * top-level keys. `null` counts as absent, as in the Go decoder. Anything
 * else throws ProtocolError, whose message never quotes the line.
 */
export function parseResponse(line: Uint8Array | string): Response {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof line === 'string' ? line : utf8.decode(line));
  } catch {
    throw new ProtocolError('the daemon sent a line that is not valid JSON');
  }
  if (!isObject(obj)) throw new ProtocolError('the daemon sent an answer that is not a JSON object');
  for (const key of Object.keys(obj)) {
    if (key !== 'id' && key !== 'result' && key !== 'error') {
      throw new ProtocolError('the daemon sent an answer with unknown fields');
    }
  }
  if (!own(obj, 'id') || !isId(obj.id)) throw new ProtocolError('the daemon sent an answer without a valid id');
  const id = obj.id;
  const result = obj.result ?? null;
  const error = obj.error ?? null;
  if (result !== null && error === null) {
    if (!isObject(result)) throw new ProtocolError('the daemon sent a result that is not an object');
    return { id, result };
  }
  if (result === null && error !== null) {
    if (
      !isObject(error) ||
      Object.keys(error).some((k) => k !== 'code' && k !== 'message') ||
      typeof error.code !== 'string' ||
      error.code === '' ||
      typeof error.message !== 'string'
    ) {
      throw new ProtocolError('the daemon sent a malformed error');
    }
    return { id, error: errorFromWire(error.code, error.message, id) };
  }
  throw new ProtocolError('the daemon sent an answer without exactly one of result and error');
}

/** Whether two decoded ids are the same JSON value. */
export function sameId(a: RequestId, b: RequestId): boolean {
  return a !== null && b !== null && a === b;
}

/**
 * Splits a byte stream into lines. `push` a chunk and get back the complete
 * lines it finished (without newlines); a line is never returned before its
 * newline arrives, and answers that arrive together come out one by one.
 * Blank lines are skipped. Buffering stops at `maxLine` bytes: a longer
 * line throws ProtocolError.
 */
export class LineSplitter {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(readonly maxLine: number = MAX_RESPONSE_LINE) {}

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      if (this.size + nl - start > this.maxLine) throw this.tooLong();
      const piece = chunk.subarray(start, nl);
      const line = this.size === 0 ? piece : Buffer.concat([...this.chunks, piece]);
      this.chunks = [];
      this.size = 0;
      start = nl + 1;
      if (line.some((b) => b !== 0x20 && b !== 0x09 && b !== 0x0d)) lines.push(line);
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.size + rest.length > this.maxLine) throw this.tooLong();
      this.chunks.push(rest);
      this.size += rest.length;
    }
    return lines;
  }

  /** Bytes received but not yet returned as a line. */
  get pending(): number {
    return this.size;
  }

  /** Drop (and zero) what is buffered: it may hold a value. */
  clear(): void {
    for (const c of this.chunks) c.fill(0);
    this.chunks = [];
    this.size = 0;
  }

  private tooLong(): ProtocolError {
    this.clear();
    return new ProtocolError(`the daemon sent a line longer than ${this.maxLine} bytes`);
  }
}

/** Refuse what can never be a path before sending it (the daemon decides the rest). */
export function checkPath(path: unknown, what = 'path'): string {
  if (typeof path !== 'string') throw new TypeError(`${what} must be a string, not ${typeof path}`);
  // The daemon would answer invalid_path; such text has no UTF-8 form.
  if (!isWellFormed(path)) throw new InvalidPathError(`${what} is not valid Unicode (lone surrogate)`);
  return path;
}

/**
 * The params of `set`: `value` for strings and for bytes that are valid
 * UTF-8, `value_b64` for any other bytes. Nothing is converted.
 */
export function setParams(path: string, value: string | Uint8Array): Record<string, string> {
  checkPath(path);
  if (typeof value === 'string') {
    if (!isWellFormed(value)) {
      throw new TypeError('value is a string that is not valid Unicode (lone surrogate); pass a Buffer');
    }
    return { path, value };
  }
  if (value instanceof Uint8Array) {
    try {
      return { path, value: utf8.decode(value) };
    } catch {
      return { path, value_b64: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
    }
  }
  throw new TypeError(`value must be a string or a Buffer/Uint8Array, not ${typeof value}`);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function valueField(result: Record<string, unknown>): ['value' | 'value_b64', string] {
  const hasText = own(result, 'value');
  const hasB64 = own(result, 'value_b64');
  if (hasText === hasB64) throw new ProtocolError('the daemon answered get without exactly one of value and value_b64');
  const key = hasText ? 'value' : 'value_b64';
  const raw = result[key];
  if (typeof raw !== 'string') throw new ProtocolError(`the daemon sent a ${key} that is not a string`);
  if (key === 'value' && !isWellFormed(raw)) throw new ProtocolError('the daemon sent a value that is not valid Unicode');
  return [key, raw];
}

/** The bytes of a `get` result, whichever form it came in. */
export function valueBytes(result: Record<string, unknown>): Buffer {
  const [key, raw] = valueField(result);
  if (key === 'value') return Buffer.from(raw, 'utf8');
  if (!BASE64.test(raw)) throw new ProtocolError('the daemon sent a value_b64 that is not valid base64');
  return Buffer.from(raw, 'base64');
}

/** The text of a `get` result; a `value_b64` result throws BinaryValueError. */
export function valueText(result: Record<string, unknown>): string {
  const [key, raw] = valueField(result);
  if (key !== 'value') {
    throw new BinaryValueError('the value is not UTF-8 text (the daemon sent value_b64); use getBytes()');
  }
  return raw;
}

/** One event pushed on a watching connection (no id). */
export type WatchEvent =
  | { kind: 'changed'; path: string; version: number }
  | { kind: 'stale'; path?: undefined; version: number }
  | { kind: string; path?: string; version: number };

/** The params of `watch`: the listed `paths`, or everything under `prefix`, or (neither) everything readable. */
export function watchParams(options: { paths?: readonly string[]; prefix?: string } = {}): Record<string, unknown> {
  const { paths, prefix } = options;
  if (paths !== undefined && prefix !== undefined) throw new TypeError('watch takes paths or prefix, not both');
  if (paths !== undefined) {
    if (!Array.isArray(paths)) throw new TypeError('paths must be an array of strings');
    if (paths.length === 0) throw new TypeError('paths is empty; omit it to watch everything');
    return { paths: paths.map((p) => checkPath(p)) };
  }
  if (prefix) return { prefix: checkPath(prefix, 'prefix') };
  return {};
}

/**
 * Decode one line read on a *watching* connection: an event (an object
 * with `event` and no `id`) or an ordinary answer (as parseResponse). Only
 * watch connections accept events. Unknown event fields are ignored and
 * unknown kinds passed through.
 */
export function parseWatchLine(line: Uint8Array | string): WatchEvent | Response {
  let obj: unknown;
  try {
    obj = JSON.parse(typeof line === 'string' ? line : utf8.decode(line));
  } catch {
    throw new ProtocolError('the daemon sent a line that is not valid JSON');
  }
  if (!isObject(obj) || !own(obj, 'event')) return parseResponse(line);
  if (own(obj, 'id')) throw new ProtocolError('the daemon sent an event that carries an id');
  const kind = obj.event;
  const version = obj.version;
  const path = obj.path ?? undefined;
  if (typeof kind !== 'string' || kind === '') throw new ProtocolError('the daemon sent an event without a kind');
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 0) {
    throw new ProtocolError('the daemon sent an event without a valid version');
  }
  if (path !== undefined && typeof path !== 'string') {
    throw new ProtocolError('the daemon sent an event whose path is not a string');
  }
  if (kind === 'changed') {
    if (path === undefined) throw new ProtocolError('the daemon sent a changed event without a path');
    return { kind, path, version };
  }
  if (kind === 'stale') return { kind, version };
  return path === undefined ? { kind, version } : { kind, path, version };
}

/** Whether a decoded watch line is an event (not an answer). */
export function isWatchEvent(x: WatchEvent | Response): x is WatchEvent {
  return typeof (x as { kind?: unknown }).kind === 'string';
}
