'use strict';
// One build of the client against a real `jawn-vault dev` daemon.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const net = require('node:net');
const { after, before, describe, test } = require('node:test');
const { startDaemon } = require('../support/daemon.cjs');

const unique = (prefix = 'test/js') => `${prefix}/${randomUUID().replaceAll('-', '')}`;

/** Send one raw request line and read one answer (for admin methods the SDK does not wrap). */
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

function daemonTests(lib, label, entry) {
  const { VaultClient } = lib;

  describe(`${label}: against jawn-vault dev`, () => {
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

    async function makeToken(grants) {
      const answer = await rawCall(daemon.socket, {
        id: 'mk',
        auth: daemon.token,
        method: 'token.create',
        params: { name: `js-${randomUUID().slice(0, 12)}`, grants },
      });
      assert.ok(answer.result?.token?.startsWith('jv_'), JSON.stringify(answer.error ?? {}));
      return answer.result.token;
    }

    test('a live token\'s name: NameTakenError, free again after revoke', async () => {
      // token.create is an admin method outside the SDK's API: sent raw, and
      // the daemon's error answer mapped the way the client maps answers.
      const params = { name: `js-${randomUUID().slice(0, 12)}`, grants: [{ pattern: 'claude/tokens/*', level: 'read' }] };
      const create = (id) => rawCall(daemon.socket, { id, auth: daemon.token, method: 'token.create', params });
      const first = await create('c1');
      assert.ok(first.result?.token, JSON.stringify(first.error ?? {}));
      const again = await create('c2');
      assert.equal(again.error?.code, 'name_taken', JSON.stringify(again));
      const err = lib.errorFromWire(again.error.code, again.error.message, again.id);
      assert.ok(err instanceof lib.NameTakenError && err instanceof lib.VaultError);
      assert.ok(!(err instanceof lib.BadRequestError));
      assert.equal(err.name, 'NameTakenError');
      assert.equal(err.requestId, 'c2');
      assert.ok(err.message.includes(params.name), err.message);
      const revoked = await rawCall(daemon.socket, { id: 'r', auth: daemon.token, method: 'token.revoke', params: { id: first.result.id } });
      assert.equal(revoked.error, undefined, JSON.stringify(revoked));
      const reused = await create('c3');
      assert.ok(reused.result?.token, JSON.stringify(reused.error ?? {}));
      assert.notEqual(reused.result.id, first.result.id);
    });

    test('health needs no valid token', async (t) => {
      const h = await client(t, { token: 'jv_' + 'B'.repeat(43) }).health();
      assert.equal(h.status, 'ok');
      assert.equal(h.protocol, lib.PROTOCOL_VERSION);
      assert.equal(typeof h.version, 'string');
    });

    test('seeded secrets and the migration example', async (t) => {
      const c = client(t);
      for (const path of ['claude/api/anthropic', 'claude/tokens/telegram-bot']) {
        const v = await c.get(path);
        assert.equal(typeof v, 'string');
        assert.ok(v.length > 0 && !v.endsWith('\n'));
      }
      const saved = { ...process.env };
      try {
        process.env.VAULT_SOCKET = daemon.socket;
        process.env.VAULT_TOKEN = daemon.token;
        const vault = new VaultClient();
        try {
          assert.equal(await vault.get('claude/tokens/telegram-bot'), await c.get('claude/tokens/telegram-bot'));
        } finally {
          await vault.close();
        }
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    });

    test('set, get, list, delete', async (t) => {
      const c = client(t);
      const folder = unique();
      const values = {
        [`${folder}/plain`]: '123456:ABC-def',
        [`${folder}/multi`]: 'line1\nline2\t"q" é 😀 <&> \u2028',
        [`${folder}/trailing`]: 'ends with newline\n',
        [`${folder}/empty`]: '',
      };
      for (const [p, v] of Object.entries(values)) await c.set(p, v);
      for (const [p, v] of Object.entries(values)) assert.equal(await c.get(p), v, p);
      assert.deepEqual(await c.list(`${folder}/`), Object.keys(values).sort());
      assert.deepEqual(await c.list(`${folder}/mu`), [`${folder}/multi`]);
      const all = await c.list();
      assert.ok(all.includes('claude/api/anthropic'));
      assert.deepEqual(all, [...all].sort());
      for (const p of Object.keys(values)) await c.delete(p);
      assert.deepEqual(await c.list(`${folder}/`), []);
      await assert.rejects(c.get(`${folder}/plain`), lib.NotFoundError);
      await assert.rejects(c.delete(`${folder}/plain`), lib.NotFoundError);
    });

    test('binary values', async (t) => {
      const c = client(t);
      const path = unique();
      const raw = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xff, 0xfe])]);
      await c.set(path, raw);
      assert.deepEqual(await c.getBytes(path), raw);
      await assert.rejects(c.get(path), lib.BinaryValueError);
      await c.set(path, Buffer.from([0xef, 0xbb, 0xbf, 0x74, 0xc3, 0xa9]));
      assert.equal(await c.get(path), '\ufeffté');
      await c.delete(path);
    });

    test('large values and the line limit', async (t) => {
      const c = client(t);
      const path = unique();
      const big = 'x'.repeat(40 * 1024);
      await c.set(path, big);
      assert.equal(await c.get(path), big);
      await assert.rejects(c.set(path, 'y'.repeat(70 * 1024)), lib.LineTooLongError);
      assert.equal(await c.get(path), big);
      await c.delete(path);
    });

    test('getMany', async (t) => {
      const c = client(t);
      const env = await c.getMany({
        TELEGRAM_BOT_TOKEN: 'claude/tokens/telegram-bot',
        ANTHROPIC_API_KEY: 'claude/api/anthropic',
      });
      assert.deepEqual(env, {
        TELEGRAM_BOT_TOKEN: await c.get('claude/tokens/telegram-bot'),
        ANTHROPIC_API_KEY: await c.get('claude/api/anthropic'),
      });
      await assert.rejects(
        c.getMany({ OK: 'claude/api/anthropic', MISSING: unique() }),
        (err) => err instanceof lib.NotFoundError && err.message.startsWith('MISSING: '),
      );
    });

    test('unauthenticated', async (t) => {
      const c = client(t, { token: 'jv_' + 'A'.repeat(43) });
      await assert.rejects(c.get('claude/api/anthropic'), lib.UnauthenticatedError);
      await assert.rejects(c.list(), lib.UnauthenticatedError);
      await assert.rejects(c.set('test/x', 'v'), (err) => err instanceof lib.UnauthenticatedError && err.code === 'unauthenticated');
    });

    test('permission denied and a filtered list', async (t) => {
      const token = await makeToken([{ pattern: 'claude/tokens/*', level: 'read' }]);
      const c = client(t, { token });
      assert.ok(await c.get('claude/tokens/telegram-bot'));
      await assert.rejects(c.get('claude/api/anthropic'), lib.PermissionDeniedError);
      await assert.rejects(c.set('claude/tokens/telegram-bot', 'nope'), lib.PermissionDeniedError);
      await assert.rejects(c.delete('claude/tokens/telegram-bot'), lib.PermissionDeniedError);
      await assert.rejects(c.get(unique('claude/api')), lib.PermissionDeniedError);
      const paths = await c.list();
      assert.ok(paths.includes('claude/tokens/telegram-bot'));
      assert.ok(paths.every((p) => p.startsWith('claude/tokens/')), paths.join(','));
    });

    test('invalid paths', async (t) => {
      const c = client(t);
      for (const p of ['../etc/passwd', 'a//b', '/abs', 'trailing/', '-rf', 'a/.hidden', 'x.gpg', 'back\\slash', '', 'a\0b']) {
        await assert.rejects(c.get(p), lib.InvalidPathError, JSON.stringify(p));
      }
    });

    test('concurrent calls on one client', async (t) => {
      const c = client(t);
      const folder = unique();
      const n = 20;
      await Promise.all(Array.from({ length: n }, (_, i) => c.set(`${folder}/k${i}`, `v${i}`)));
      const got = await Promise.all(Array.from({ length: n }, (_, i) => c.get(`${folder}/k${i}`)));
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => `v${i}`));
      const mixed = await Promise.allSettled([c.health(), c.list(`${folder}/`), c.get(`${folder}/missing`), c.getBytes(`${folder}/k1`)]);
      assert.equal(mixed[0].value.status, 'ok');
      assert.equal(mixed[1].value.length, n);
      assert.ok(mixed[2].reason instanceof lib.NotFoundError);
      assert.deepEqual(mixed[3].value, Buffer.from('v1'));
    });

    test('an idle client does not keep the process alive', () => {
      // A child that never calls close() must still exit on its own.
      const code = entry.esm
        ? `import { VaultClient } from '@jawn-vault/client'; const c = new VaultClient(); console.log((await c.health()).status);`
        : `const { VaultClient } = require('@jawn-vault/client'); new VaultClient().health().then((h) => console.log(h.status));`;
      const run = spawnSync(process.execPath, [entry.esm ? '--input-type=module' : '--input-type=commonjs', '-e', code], {
        cwd: entry.cwd,
        env: { ...process.env, VAULT_SOCKET: daemon.socket, VAULT_TOKEN: daemon.token },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.signal, null, 'the child had to be killed: the idle connection kept it alive');
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'ok');
    });

    test('a restarted daemon on the same socket', async (t) => {
      // The second daemon is a fresh `dev` instance with new tokens, so the
      // client uses no token: the local owner.
      const first = await startDaemon();
      t.after(() => first.cleanup());
      const c = new VaultClient({ socketPath: first.socket, token: '', timeoutMs: 5000 });
      t.after(() => c.close());
      const before = await c.get('claude/api/anthropic');
      await first.stop();
      await assert.rejects(c.get('claude/api/anthropic'), lib.DaemonUnavailableError);
      await assert.rejects(c.set('test/x', 'v'), lib.DaemonUnavailableError);
      const second = await startDaemon({ socketPath: first.socket });
      t.after(() => second.cleanup());
      assert.equal(await c.get('claude/api/anthropic'), before);
      await second.stop();
      const third = await startDaemon({ socketPath: first.socket });
      t.after(() => third.cleanup());
      // No failed call in between: the dead connection is noticed and replaced.
      assert.equal((await c.health()).status, 'ok');
      await c.set(unique(), 'after restart');
    });
  });
}

module.exports = { daemonTests };
