'use strict';
// Loading the protocol vectors shared with the Go daemon and the Python SDK.
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { REPO_ROOT } = require('./daemon.cjs');

const VECTOR_DIR = join(REPO_ROOT, 'testdata', 'protocol');
const KEYS = new Set(['name', 'comment', 'kind', 'line', 'line_b64', 'repeat', 'expect', 'decoded', 'error_code']);
const EXPECT = { request: ['ok', 'error'], response: ['ok', 'error', 'invalid'] };

/** Every vector, checked for shape, with `raw` (a Buffer) holding the line. */
function loadVectors(keys = KEYS) {
  const vectors = [];
  for (const file of readdirSync(VECTOR_DIR).sort()) {
    if (!file.endsWith('.json')) continue;
    const v = JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8'));
    const fail = (why) => {
      throw new Error(`${file}: ${why}`);
    };
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('not an object');
    const unknown = Object.keys(v).filter((k) => !keys.has(k));
    if (unknown.length) fail(`unknown keys ${unknown.join(', ')}`);
    if (v.name !== file.slice(0, -'.json'.length)) fail('name does not match the file name');
    if (!EXPECT[v.kind]?.includes(v.expect)) fail('bad kind/expect');
    if (('line' in v) === ('line_b64' in v)) fail('needs exactly one of line and line_b64');
    const one = 'line' in v ? Buffer.from(v.line, 'utf8') : Buffer.from(v.line_b64, 'base64');
    const repeat = v.repeat ?? 1;
    if (!Number.isInteger(repeat) || repeat < 1) fail('bad repeat');
    v.raw = Buffer.concat(Array(repeat).fill(one));
    if (v.expect === 'ok' && !('decoded' in v)) fail('ok needs decoded');
    if (v.expect === 'error' && !v.error_code) fail('error needs error_code');
    if (v.kind === 'response' && v.expect === 'error' && !('decoded' in v)) fail('an error response needs decoded.id');
    vectors.push(v);
  }
  if (vectors.length === 0) throw new Error(`no vectors in ${VECTOR_DIR}`);
  return vectors;
}

module.exports = { VECTOR_DIR, KEYS, loadVectors };
