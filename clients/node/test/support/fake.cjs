'use strict';
// A scripted stand-in for the daemon on a temporary Unix socket, for unit
// tests of framing, id matching, timeouts and reconnects.
const { mkdtempSync, rmSync } = require('node:fs');
const net = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

class FakeConn {
  constructor(socket, index, record) {
    this.socket = socket;
    this.index = index;
    this.buf = '';
    this.lines = [];
    this.waiters = [];
    this.ended = false;
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      this.buf += chunk;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
        record(req);
        this.lines.push(req);
      }
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The next request, or null once the client has hung up. */
  async readRequest() {
    for (;;) {
      if (this.lines.length) return this.lines.shift();
      if (this.ended) return null;
      await new Promise((res) => this.waiters.push(res));
    }
  }

  send(data) {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  answer(req, result = {}) {
    this.send(JSON.stringify({ id: req.id, result }) + '\n');
  }

  fail(req, code, message = code) {
    this.send(JSON.stringify({ id: req.id, error: { code, message } }) + '\n');
  }
}

/**
 * Serve `handler(conn)` on each connection; the connection is closed when
 * the handler returns. Returns { path, connections, requests, hungUp(n), close() }.
 */
async function fakeDaemon(handler) {
  const dir = mkdtempSync(join(tmpdir(), 'vaultsdk-jsfake-'));
  const path = join(dir, 's.sock');
  const sockets = new Set();
  let closedCount = 0;
  let closeWaiters = [];
  const state = {
    path,
    connections: 0,
    requests: [],
    /** Resolves once the fake has closed `n` connections. */
    hungUp(n) {
      return new Promise((res) => {
        const check = () => (closedCount >= n ? res() : closeWaiters.push(check));
        check();
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((res) => server.close(() => res()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    state.connections += 1;
    const conn = new FakeConn(socket, state.connections, (req) => state.requests.push(req));
    socket.on('close', () => {
      sockets.delete(socket);
      closedCount += 1;
      const waiters = closeWaiters;
      closeWaiters = [];
      for (const w of waiters) w();
    });
    Promise.resolve()
      .then(() => handler(conn))
      .catch(() => {})
      .finally(() => socket.end(() => socket.destroy()));
  });
  await new Promise((res) => server.listen(path, res));
  return state;
}

/** Answers get from `values` (not_found otherwise), set into it, list and health. */
function echoHandler(values) {
  return async (conn) => {
    for (let req; (req = await conn.readRequest()) !== null; ) {
      const p = req.params ?? {};
      switch (req.method) {
        case 'get':
          if (p.path in values) conn.answer(req, { value: values[p.path] });
          else conn.fail(req, 'not_found', 'no such entry');
          break;
        case 'set':
          values[p.path] = p.value ?? p.value_b64;
          conn.answer(req, {});
          break;
        case 'list':
          conn.answer(req, { paths: Object.keys(values).sort() });
          break;
        case 'health':
          conn.answer(req, { status: 'ok', protocol: 1, version: 'fake' });
          break;
        default:
          conn.fail(req, 'unknown_method');
      }
    }
  };
}

module.exports = { fakeDaemon, echoHandler };
