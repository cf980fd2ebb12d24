// The CommonJS build, required by package name through the exports map.
const assert = require('node:assert/strict');
const { join } = require('node:path');
const { test } = require('node:test');
const lib = require('@jawn-vault/client');
const protocol = require('../dist-cjs/protocol.js');

const pkgRoot = join(__dirname, '..');

test('cjs: the package name resolves to the CommonJS build', () => {
  assert.equal(require.resolve('@jawn-vault/client'), join(pkgRoot, 'dist-cjs', 'index.js'));
  assert.equal(typeof lib.VaultClient, 'function');
  assert.equal(require('@jawn-vault/client/package.json').name, '@jawn-vault/client');
  // Really CommonJS: module.exports of a CJS module, not a namespace object.
  assert.equal(Object.prototype.toString.call(lib), '[object Object]');
});

const { vectorTests } = require('./suites/vectors.cjs');
const { unitTests } = require('./suites/unit.cjs');
const { daemonTests } = require('./suites/daemon.cjs');
const { watchTests } = require('./suites/watch.cjs');

vectorTests(lib, protocol, 'cjs');
unitTests(lib, protocol, 'cjs');
daemonTests(lib, 'cjs', { esm: false, cwd: pkgRoot });
watchTests(lib, protocol, 'cjs');
