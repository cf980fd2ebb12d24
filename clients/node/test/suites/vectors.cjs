'use strict';
// The shared protocol vectors (testdata/protocol), all in one loop, run
// against one build of the package.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { KEYS, loadVectors } = require('../support/vectors.cjs');

function vectorTests(lib, protocol, label) {
  test(`${label}: protocol vectors`, () => {
    const vectors = loadVectors();
    const kinds = new Set(vectors.map((v) => `${v.kind}/${v.expect}`));
    for (const k of ['request/ok', 'response/ok', 'response/error', 'response/invalid']) assert.ok(kinds.has(k), k);
    let checked = 0;
    for (const v of vectors) {
      if (v.kind === 'response') {
        if (v.expect === 'invalid') {
          assert.throws(() => protocol.parseResponse(v.raw), lib.ProtocolError, v.name);
        } else {
          const answer = protocol.parseResponse(v.raw);
          if (v.expect === 'ok') {
            assert.equal(answer.error, undefined, v.name);
            assert.deepEqual({ id: answer.id, result: answer.result }, v.decoded, v.name);
          } else {
            assert.ok(answer.error instanceof lib.VaultError, v.name);
            assert.equal(answer.error.code, v.error_code, v.name);
            assert.equal(answer.id, v.decoded.id, v.name);
            assert.equal(answer.error.requestId, v.decoded.id, v.name);
            const known = lib.WIRE_CODES.includes(v.error_code);
            assert.equal(answer.error.constructor === lib.VaultError, !known, v.name);
          }
          // Framed and split across chunks, the line decodes the same.
          const splitter = new protocol.LineSplitter();
          const lines = [];
          for (let i = 0; i < v.raw.length; i += 7) lines.push(...splitter.push(v.raw.subarray(i, i + 7)));
          assert.equal(lines.length, 0, v.name);
          lines.push(...splitter.push(Buffer.from('\n')));
          assert.equal(lines.length, 1, v.name);
          const again = protocol.parseResponse(lines[0]);
          assert.deepEqual([again.id, again.result, again.error?.code], [answer.id, answer.result, answer.error?.code]);
        }
        checked++;
      } else if (v.expect === 'ok') {
        const d = v.decoded;
        assert.deepEqual(Object.keys(d).sort(), ['auth', 'id', 'method', 'params'], v.name);
        // The vector's own line decodes to its decoded form.
        assert.deepEqual({ auth: '', params: null, ...JSON.parse(v.raw.toString('utf8')) }, d, v.name);
        const encoded = protocol.encodeRequest(d.id, d.method, d.params, d.auth);
        assert.ok(encoded.endsWith('\n'), v.name);
        assert.equal(encoded.indexOf('\n'), encoded.length - 1, v.name);
        assert.deepEqual(JSON.parse(encoded), d, v.name);
        checked++;
      }
    }
    assert.ok(checked > 10);
  });

  test(`${label}: the vector loader rejects unknown keys`, () => {
    const fewer = new Set(KEYS);
    fewer.delete('comment');
    assert.throws(() => loadVectors(fewer), /unknown keys/);
  });
}

module.exports = { vectorTests };
