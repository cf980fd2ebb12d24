'use strict';
// watch: VaultClient.watch against a real `jawn-vault dev` daemon, and the
// event-line parser.
const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const nodePath = require('node:path');
const { once } = require('node:events');
const { after, before, describe, test } = require('node:test');
const { startDaemon } = require('../support/daemon.cjs');

const unique = (prefix = 'test/jswatch') => `${prefix}/${randomUUID().replaceAll('-', '')}`;
const EVENT_DEADLINE_MS = 5000;

async function rawCall(socketPath, request) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: socketPath });
    let buf = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify(request) + '\n'));
    s.on('data', (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(JSON.parse(buf.slice(0, nl)));
      }
    });
    s.on('error', reject);
  });
}

/** Resolve with the first `event` the emitter emits (optionally matching), or reject after the deadline. */
function firstEvent(emitter, event, match = () => true, ms = EVENT_DEADLINE_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    const on = (ev) => {
      if (!match(ev)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(ev);
    };
    emitter.on(event, on);
  });
}

function withDeadline(promise, what, ms = EVENT_DEADLINE_MS) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}

function watchTests(lib, protocol, label) {
  const { VaultClient } = lib;

  describe(`${label}: watch event lines`, () => {
    test('events parse only as watch lines', () => {
      assert.deepEqual(protocol.parseWatchLine('{"event":"changed","path":"a/b","version":3}'), {
        kind: 'changed',
        path: 'a/b',
        version: 3,
      });
      assert.deepEqual(protocol.parseWatchLine('{"event":"stale","version":4}'), { kind: 'stale', version: 4 });
      assert.deepEqual(protocol.parseWatchLine('{"id":"x","result":{"version":0}}').result, { version: 0 });
      for (const bad of [
        '{"event":"changed","version":3}',
        '{"event":"changed","path":"a","version":"3"}',
        '{"event":"changed","path":"a","version":1,"id":"x"}',
        '{"event":"","version":1}',
        'nope',
      ]) {
        assert.throws(() => protocol.parseWatchLine(bad), lib.ProtocolError, bad);
      }
      // The request connection's parser still refuses a line without an id.
      assert.throws(() => protocol.parseResponse('{"event":"changed","path":"a/b","version":3}'), lib.ProtocolError);
      assert.throws(() => protocol.watchParams({ paths: ['a'], prefix: 'b' }), TypeError);
      assert.deepEqual(protocol.watchParams({ prefix: 'a/' }), { prefix: 'a/' });
      assert.deepEqual(protocol.watchParams(), {});
    });
  });

  describe(`${label}: watch against jawn-vault dev`, () => {
    let daemon;
    before(async () => {
      daemon = await startDaemon();
    });
    after(async () => {
      await daemon?.cleanup();
    });

    function client(t, opts = {}) {
      const c = new VaultClient({ socketPath: daemon.socket, token: daemon.token, ...opts });
      t.after(() => c.close());
      return c;
    }

    async function watch(t, c, opts) {
      const w = await c.watch(opts);
      t.after(() => w.close());
      return w;
    }

    async function makeToken(grants) {
      const name = `jsw-${randomUUID().slice(0, 12)}`;
      const answer = await rawCall(daemon.socket, {
        id: 'mk',
        auth: daemon.token,
        method: 'token.create',
        params: { name, grants },
      });
      assert.ok(answer.result?.token?.startsWith('jv_'), JSON.stringify(answer.error ?? {}));
      return { name, token: answer.result.token };
    }

    test('a set through another client emits change for the watched path', async (t) => {
      const path = unique();
      const c = client(t);
      const w = await watch(t, c, { paths: [path] });
      assert.ok(w instanceof lib.Watcher);
      assert.equal(typeof w.version, 'number');
      const got = firstEvent(w, 'change');
      await client(t).set(path, 'v1');
      const ev = await got;
      assert.equal(ev.path, path);
      assert.ok(ev.version > w.version);
      // The client's own connection is free, and get reads the new value.
      assert.equal(await c.get(path), 'v1');
    });

    test('a change that names no entry emits stale, without a path', async (t) => {
      const w = await watch(t, client(t), { paths: [unique()] });
      const got = firstEvent(w, 'stale');
      // The store's .gpg-id changing says nothing about which entries did.
      const now = new Date();
      fs.utimesSync(nodePath.join(daemon.info.store, '.gpg-id'), now, now);
      const ev = await got;
      assert.equal(ev.path, undefined);
      assert.ok(ev.version > w.version);
    });

    test('prefix watch and async iteration', async (t) => {
      const folder = unique();
      const w = await watch(t, client(t), { prefix: `${folder}/` });
      const writer = client(t);
      const seen = [];
      const consume = (async () => {
        for await (const ev of w) {
          assert.equal(ev.kind, 'changed');
          assert.ok(ev.path.startsWith(`${folder}/`), ev.path);
          if (!seen.includes(ev.path)) seen.push(ev.path);
          if (seen.length === 2) break;
        }
      })();
      await writer.set(`${folder}/x`, '1');
      await writer.set(unique(), 'outside');
      await writer.set(`${folder}/y`, '2');
      await withDeadline(consume, 'two events');
      assert.deepEqual(seen, [`${folder}/x`, `${folder}/y`]);
      // break called return(): the watcher is closed.
      assert.equal(w.closed, true);
    });

    test('a path the token may not read produces no event', async (t) => {
      const readable = unique('test/jswatch/ok');
      const hidden = unique('test/jswatch/secret');
      const { token } = await makeToken([{ pattern: 'test/jswatch/ok/*', level: 'read' }]);
      const w = await watch(t, client(t, { token }));
      const got = firstEvent(w, 'change');
      const writer = client(t);
      await writer.set(hidden, 'not for you');
      await writer.set(readable, 'for you');
      assert.equal((await got).path, readable);
    });

    test('naming a path the token may not read is refused', async (t) => {
      const { token } = await makeToken([{ pattern: 'test/jswatch/ok/*', level: 'read' }]);
      await assert.rejects(
        client(t, { token }).watch({ paths: [unique('test/jswatch/secret')] }),
        lib.PermissionDeniedError,
      );
    });

    test('close() emits close and ends iteration', async (t) => {
      const w = await watch(t, client(t), { paths: [unique()] });
      const events = [];
      const consume = (async () => {
        for await (const ev of w) events.push(ev);
        return 'ended';
      })();
      const closed = once(w, 'close');
      await new Promise((r) => setTimeout(r, 100));
      await w.close();
      await withDeadline(closed, "'close'");
      assert.equal(await withDeadline(consume, 'the end of iteration'), 'ended');
      assert.deepEqual(events, []);
      assert.equal(w.closed, true);
    });

    test('a revoked token is disconnected: error then close', async (t) => {
      const { name, token } = await makeToken([{ pattern: 'test/jswatch/ok/*', level: 'read' }]);
      const w = await watch(t, client(t, { token }), { paths: [unique('test/jswatch/ok')] });
      const errored = firstEvent(w, 'error');
      // (events.once would reject on 'error'.)
      const closed = firstEvent(w, 'close');
      const answer = await rawCall(daemon.socket, { id: 'rv', auth: daemon.token, method: 'token.revoke', params: { name } });
      assert.ok(answer.result, JSON.stringify(answer.error ?? {}));
      assert.ok((await errored) instanceof lib.DaemonUnavailableError);
      await withDeadline(closed, "'close'");
    });

    test('a closed client refuses to watch', async () => {
      const c = new VaultClient({ socketPath: daemon.socket, token: daemon.token });
      await c.close();
      await assert.rejects(c.watch({ paths: ['a/b'] }), lib.ClientClosedError);
    });
  });
}

module.exports = { watchTests };
