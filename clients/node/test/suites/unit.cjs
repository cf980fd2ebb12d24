'use strict';
// Unit tests of one build of the client against a scripted fake daemon.
const assert = require('node:assert/strict');
const { existsSync } = require('node:fs');
const net = require('node:net');
const { inspect } = require('node:util');
const { describe, test } = require('node:test');
const { echoHandler, fakeDaemon } = require('../support/fake.cjs');

const SECRET = 's3cr3t-value-never-in-messages';

function unitTests(lib, protocol, label) {
  const { VaultClient } = lib;

  async function withFake(t, handler) {
    const fake = await fakeDaemon(handler);
    t.after(() => fake.close());
    return fake;
  }

  function client(t, fake, opts = {}) {
    const c = new VaultClient({ socketPath: fake.path, token: 'jv_test', timeoutMs: 5000, ...opts });
    t.after(() => c.close());
    return c;
  }

  describe(`${label}: unit`, () => {
    test('errors: one base class, name and code', () => {
      for (const code of lib.WIRE_CODES) {
        const err = lib.errorFromWire(code, 'msg', 'js-1');
        assert.ok(err instanceof lib.VaultError && err instanceof Error);
        assert.notEqual(err.constructor, lib.VaultError);
        assert.equal(err.code, code);
        assert.equal(err.requestId, 'js-1');
        assert.equal(err.name, err.constructor.name);
        assert.match(err.name, /Error$/);
      }
      const unknown = lib.errorFromWire('future_code', 'x');
      assert.equal(unknown.constructor, lib.VaultError);
      assert.equal(unknown.code, 'future_code');
      assert.equal(unknown.name, 'VaultError');
      assert.ok(new lib.LineTooLongError('x') instanceof lib.BadRequestError);
      assert.ok(new lib.TimeoutError('x') instanceof lib.DaemonUnavailableError);
      for (const [name, cls] of Object.entries(lib)) {
        if (typeof cls === 'function' && cls.prototype instanceof Error) {
          assert.ok(cls === lib.VaultError || cls.prototype instanceof lib.VaultError, name);
        }
      }
    });

    test('line splitter: partial, merged, blank and over-long lines', () => {
      const s = new protocol.LineSplitter(16);
      assert.deepEqual(s.push(Buffer.from('{"a":')), []);
      assert.deepEqual(s.push(Buffer.from('1}\n\n  \n{"b":2}\n{"c"')).map(String), ['{"a":1}', '{"b":2}']);
      assert.equal(s.pending, 4);
      assert.throws(() => s.push(Buffer.from('x'.repeat(13))), lib.ProtocolError);
      const t = new protocol.LineSplitter(4);
      assert.deepEqual(t.push(Buffer.from('abcd\n')).map(String), ['abcd']);
      assert.throws(() => t.push(Buffer.from('abcde\n')), lib.ProtocolError);
    });

    test('parseResponse is strict and never quotes the line', () => {
      for (const line of [
        '{"id":1,"result":{},"extra":1}',
        '{"id":true,"result":{}}',
        '{"id":1,"error":{"code":"","message":"x"}}',
        '{"id":1,"error":{"code":"x","message":"m","data":1}}',
        '{"id":1,"result":null}',
        '{"id":1,"result":[]}',
      ]) {
        assert.throws(() => protocol.parseResponse(line), lib.ProtocolError, line);
      }
      assert.throws(() => protocol.parseResponse(Buffer.from([0x7b, 0xff, 0x7d])), lib.ProtocolError);
      assert.deepEqual(protocol.parseResponse('{"id":"a","result":{},"error":null}').result, {});
      assert.throws(
        () => protocol.parseResponse(`{"id":1,"result":{"value":"${SECRET}"}`),
        (err) => err instanceof lib.ProtocolError && !err.message.includes(SECRET),
      );
    });

    test('set params: text, UTF-8 bytes, other bytes, refusals', () => {
      assert.deepEqual(protocol.setParams('a', 'text'), { path: 'a', value: 'text' });
      assert.deepEqual(protocol.setParams('a', Buffer.from('é')), { path: 'a', value: 'é' });
      assert.deepEqual(protocol.setParams('a', Buffer.from([0xef, 0xbb, 0xbf, 0x62])), { path: 'a', value: '\ufeffb' });
      assert.deepEqual(protocol.setParams('a', new Uint8Array([0xff, 0])), { path: 'a', value_b64: '/wA=' });
      assert.deepEqual(protocol.setParams('a', Buffer.from([1, 0xff, 0, 2]).subarray(1, 3)), { path: 'a', value_b64: '/wA=' });
      assert.throws(() => protocol.setParams('a', 12), TypeError);
      assert.throws(() => protocol.setParams('a\ud800', 'x'), lib.InvalidPathError);
      assert.throws(
        () => protocol.setParams('a', SECRET + '\udc80'),
        (err) => err instanceof TypeError && !err.message.includes(SECRET),
      );
      assert.throws(() => protocol.valueBytes({ value_b64: 'YQ' }), lib.ProtocolError);
      assert.throws(() => protocol.valueBytes({ value: 'a', value_b64: 'YQ==' }), lib.ProtocolError);
    });

    test('token from a systemd credential', () => {
      const saved = { ...process.env };
      const { mkdtempSync, writeFileSync, rmSync } = require('node:fs');
      const { tmpdir } = require('node:os');
      const { join } = require('node:path');
      const creds = mkdtempSync(join(tmpdir(), 'vaultsdk-creds-'));
      try {
        writeFileSync(join(creds, 'jawn-vault-token'), 'jv_from_credential\n');
        process.env.CREDENTIALS_DIRECTORY = creds;
        delete process.env.VAULT_TOKEN;
        assert.equal(lib.defaultToken(), 'jv_from_credential');
        process.env.VAULT_TOKEN = 'jv_env';
        assert.equal(lib.defaultToken(), 'jv_env');
        delete process.env.VAULT_TOKEN;
        process.env.CREDENTIALS_DIRECTORY = join(creds, 'missing');
        assert.equal(lib.defaultToken(), '');
      } finally {
        rmSync(creds, { recursive: true, force: true });
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });

    test('environment defaults', () => {
      const saved = { ...process.env };
      try {
        process.env.VAULT_SOCKET = '/x/s.sock';
        process.env.VAULT_TOKEN = 'jv_env';
        assert.equal(new VaultClient().socketPath, '/x/s.sock');
        assert.equal(new VaultClient({ socketPath: '/y.sock' }).socketPath, '/y.sock');
        delete process.env.VAULT_SOCKET;
        process.env.XDG_RUNTIME_DIR = '/r';
        assert.equal(lib.defaultSocketPath(), '/r/jawn-vault.sock');
        delete process.env.XDG_RUNTIME_DIR;
        const fallback = existsSync(lib.SYSTEM_SOCKET) ? lib.SYSTEM_SOCKET : `/run/user/${process.getuid()}/jawn-vault.sock`;
        assert.equal(lib.defaultSocketPath(), fallback);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });

    test('methods and the request shape', async (t) => {
      const values = { 'a/b': 'v1' };
      const fake = await withFake(t, echoHandler(values));
      const c = client(t, fake);
      assert.equal(fake.connections, 0); // connects on first use
      assert.equal(await c.get('a/b'), 'v1');
      await c.set('a/c', 'v2');
      await c.set('a/bin', Buffer.from([0xff, 0]));
      assert.equal(values['a/bin'], '/wA=');
      assert.deepEqual(await c.list(), ['a/b', 'a/bin', 'a/c']);
      await c.list('a/');
      assert.equal((await c.health()).status, 'ok');
      await assert.rejects(c.get('nope'), (err) => err instanceof lib.NotFoundError && err.code === 'not_found');
      assert.equal(await c.get('a/b'), 'v1');
      assert.equal(fake.connections, 1);
      assert.deepEqual(fake.requests[0], { id: 'js-1', auth: 'jv_test', method: 'get', params: { path: 'a/b' } });
      assert.deepEqual(fake.requests[3].params, {});
      assert.deepEqual(fake.requests[4].params, { prefix: 'a/' });
      assert.equal(new Set(fake.requests.map((r) => r.id)).size, fake.requests.length);
      assert.ok(!inspect(c, { showHidden: true }).includes('jv_test'), 'the token is not shown by inspect');
    });

    test('binary values', async (t) => {
      const fake = await withFake(t, async (conn) => {
        for (let r; (r = await conn.readRequest()); ) conn.answer(r, { value_b64: '/wA=' });
      });
      const c = client(t, fake);
      assert.deepEqual(await c.getBytes('x'), Buffer.from([0xff, 0]));
      await assert.rejects(c.get('x'), lib.BinaryValueError);
      assert.deepEqual(await c.getBytes('x'), Buffer.from([0xff, 0]));
    });

    test('close: idempotent, then unusable', async (t) => {
      const fake = await withFake(t, echoHandler({ a: '1' }));
      const c = new VaultClient({ socketPath: fake.path, token: '' });
      assert.equal(await c.get('a'), '1');
      await c.close();
      await c.close();
      assert.ok(c.closed);
      await assert.rejects(c.get('a'), (err) => err instanceof lib.ClientClosedError && err.code === 'client_closed');
    });

    test('connect failures', async () => {
      const c = new VaultClient({ socketPath: '/nonexistent/jv.sock', token: '' });
      await assert.rejects(c.health(), (err) => {
        assert.ok(err instanceof lib.DaemonUnavailableError);
        assert.equal(err.code, 'daemon_unavailable');
        assert.match(err.message, /nonexistent/);
        return true;
      });
    });

    test('socket factory', async (t) => {
      const fake = await withFake(t, echoHandler({ k: 'v' }));
      const paths = [];
      const c = new VaultClient({
        socketPath: '/nowhere.sock',
        socketFactory: (p) => {
          paths.push(p);
          return net.createConnection({ path: fake.path });
        },
      });
      t.after(() => c.close());
      assert.equal(await c.get('k'), 'v');
      assert.deepEqual(paths, ['/nowhere.sock']);
    });

    test('an answer split into single bytes', async (t) => {
      const fake = await withFake(t, async (conn) => {
        for (let r; (r = await conn.readRequest()); ) {
          const line = Buffer.from(JSON.stringify({ id: r.id, result: { value: 'é'.repeat(50) } }) + '\n');
          for (let i = 0; i < line.length; i++) {
            conn.send(line.subarray(i, i + 1));
            if (i % 20 === 0) await new Promise((res) => setImmediate(res));
          }
        }
      });
      const c = client(t, fake);
      assert.equal(await c.get('x'), 'é'.repeat(50));
      assert.equal(await c.get('x'), 'é'.repeat(50));
    });

    test('concurrent calls are pipelined on one connection', async (t) => {
      const fake = await withFake(t, async (conn) => {
        // Read every request before answering any, then answer in one write.
        const reqs = [];
        for (let i = 0; i < 5; i++) reqs.push(await conn.readRequest());
        conn.send(reqs.map((r) => JSON.stringify({ id: r.id, result: { value: r.params.path } }) + '\n').join(''));
        while (await conn.readRequest()) {}
      });
      const c = client(t, fake, { timeoutMs: 3000 });
      const got = await Promise.all([0, 1, 2, 3, 4].map((i) => c.get(`p${i}`)));
      assert.deepEqual(got, ['p0', 'p1', 'p2', 'p3', 'p4']);
      assert.equal(fake.connections, 1);
    });

    test('getMany: one round trip, first failure in order', async (t) => {
      const fake = await withFake(t, async (conn) => {
        const reqs = [];
        for (let i = 0; i < 3; i++) reqs.push(await conn.readRequest());
        conn.send(reqs.map((r) => JSON.stringify({ id: r.id, result: { value: `v-${r.params.path}` } }) + '\n').join(''));
        await echoHandler({ ok: '1' })(conn);
      });
      const c = client(t, fake, { timeoutMs: 3000 });
      assert.deepEqual(await c.getMany({ A: 'a', B: 'b', C: 'a' }), { A: 'v-a', B: 'v-b', C: 'v-a' });
      assert.deepEqual(await c.getMany(new Map([['X', 'ok']])), { X: '1' });
      assert.deepEqual(await c.getMany({}), {});
      await assert.rejects(c.getMany({ GOOD: 'ok', MISSING: 'm1', ALSO: 'm2' }), (err) => {
        assert.ok(err instanceof lib.NotFoundError);
        assert.match(err.message, /^MISSING: /);
        return true;
      });
      assert.equal(fake.connections, 1);
    });

    test('an id mismatch is a ProtocolError and drops the connection', async (t) => {
      const fake = await withFake(t, async (conn) => {
        for (let r; (r = await conn.readRequest()); ) {
          if (conn.index === 1) conn.send('{"id":"js-999","result":{"value":"x"}}\n');
          else conn.answer(r, { value: 'right' });
        }
      });
      const c = client(t, fake);
      await assert.rejects(c.get('x'), lib.ProtocolError);
      assert.equal(await c.get('x'), 'right');
      assert.equal(fake.connections, 2);
    });

    test('garbage and over-long answers', async (t) => {
      const fake = await withFake(t, async (conn) => {
        const r = await conn.readRequest();
        if (r?.params.path === 'garbage') conn.send(`HTTP/1.1 200 OK ${SECRET}\n`);
        else conn.send('{"id":"js-2","result":{"value":"' + 'a'.repeat(5000));
        await conn.readRequest();
      });
      const c = client(t, fake, { maxLineBytes: 1024 });
      await assert.rejects(c.get('garbage'), (err) => err instanceof lib.ProtocolError && !err.message.includes(SECRET));
      await assert.rejects(c.get('long'), lib.ProtocolError);
    });

    test('busy: an answer with a null id', async (t) => {
      const fake = await withFake(t, async (conn) => {
        conn.send('{"id":null,"error":{"code":"busy","message":"too many connections"}}\n');
      });
      const c = client(t, fake);
      await assert.rejects(c.health(), (err) => err instanceof lib.BusyError && err.requestId === null);
    });

    test('a dead idle connection is replaced before sending', async (t) => {
      const fake = await withFake(t, async (conn) => {
        const r = await conn.readRequest();
        if (r) conn.answer(r, {});
      });
      const c = client(t, fake);
      await c.set('a', '1');
      await fake.hungUp(1);
      await c.set('a', '2');
      await fake.hungUp(2);
      await c.delete('a');
      assert.deepEqual(fake.requests.map((r) => r.method), ['set', 'set', 'delete']);
      assert.equal(fake.connections, 3);
    });

    test('idempotent calls are retried once after a loss', async (t) => {
      const fake = await withFake(t, async (conn) => {
        const r = await conn.readRequest();
        if (r && conn.index === 2) conn.answer(r, { value: 'v' });
      });
      const c = client(t, fake);
      assert.equal(await c.get('x'), 'v');
      assert.equal(fake.connections, 2);
      assert.deepEqual(fake.requests.map((r) => r.method), ['get', 'get']);
    });

    test('a retry happens only once', async (t) => {
      const fake = await withFake(t, async (conn) => {
        await conn.readRequest(); // every connection hangs up unanswered
      });
      const c = client(t, fake);
      await assert.rejects(c.list(), lib.DaemonUnavailableError);
      assert.equal(fake.connections, 2);
    });

    for (const method of ['set', 'delete']) {
      test(`${method} is never sent twice after a loss`, async (t) => {
        const fake = await withFake(t, async (conn) => {
          await conn.readRequest(); // read it, hang up unanswered
        });
        const c = client(t, fake);
        const call = method === 'set' ? c.set('a', SECRET) : c.delete('a');
        await assert.rejects(call, (err) => {
          assert.ok(err instanceof lib.DaemonUnavailableError);
          assert.match(err.message, /may or may not/);
          assert.ok(!err.message.includes(SECRET));
          return true;
        });
        assert.deepEqual(fake.requests.map((r) => r.method), [method]);
        assert.equal(fake.connections, 1);
      });
    }

    test('a partial answer then a hang-up', async (t) => {
      const fake = await withFake(t, async (conn) => {
        const r = await conn.readRequest();
        if (conn.index === 1) conn.send(`{"id":"${r.id}","result":{"val`);
        else conn.answer(r, { value: 'whole' });
      });
      const c = client(t, fake);
      assert.equal(await c.get('x'), 'whole');
    });

    test('a timeout gives up the connection', async (t) => {
      let release;
      const held = new Promise((res) => (release = res));
      t.after(() => release());
      const fake = await withFake(t, async (conn) => {
        const r = await conn.readRequest();
        if (conn.index === 1) return held; // never answer in time
        for (let req = r; req; req = await conn.readRequest()) conn.answer(req, { status: 'ok' });
      });
      const c = client(t, fake, { timeoutMs: 300 });
      await assert.rejects(c.health(), (err) => {
        assert.ok(err instanceof lib.TimeoutError);
        assert.ok(err instanceof lib.DaemonUnavailableError);
        assert.equal(err.code, 'timeout');
        return true;
      });
      assert.deepEqual(await c.health(), { status: 'ok' });
      assert.equal(fake.connections, 2);
    });

    test('the timeout watches progress, not single calls', async (t) => {
      // Eight concurrent calls answered a quarter of the timeout apart: the
      // last waits twice the timeout, but the daemon never stalls.
      const fake = await withFake(t, async (conn) => {
        const reqs = [];
        for (let i = 0; i < 8; i++) reqs.push(await conn.readRequest());
        for (const r of reqs) {
          await new Promise((res) => setTimeout(res, 250));
          conn.answer(r, { value: r.params.path });
        }
        while (await conn.readRequest()) {}
      });
      const c = client(t, fake, { timeoutMs: 1000 });
      const got = await Promise.all(Array.from({ length: 8 }, (_, i) => c.get(`p${i}`)));
      assert.deepEqual(got, Array.from({ length: 8 }, (_, i) => `p${i}`));
    });

    test('many concurrent callers, one connection', async (t) => {
      const values = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, `v${i}`]));
      const fake = await withFake(t, echoHandler(values));
      const c = client(t, fake);
      const got = await Promise.all(Array.from({ length: 40 }, (_, i) => c.get(`k${i}`)));
      assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => `v${i}`));
      assert.equal(fake.connections, 1);
    });
  });
}

module.exports = { unitTests };
