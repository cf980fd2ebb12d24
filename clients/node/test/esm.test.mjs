// The ESM build, imported by package name through the exports map.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import * as lib from '@jawn-vault/client';
import * as protocol from '../dist/protocol.js';
import { vectorTests } from './suites/vectors.cjs';
import { unitTests } from './suites/unit.cjs';
import { daemonTests } from './suites/daemon.cjs';
import { watchTests } from './suites/watch.cjs';

const pkgRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

test('esm: the package name resolves to the ESM build', () => {
  assert.equal(fileURLToPath(import.meta.resolve('@jawn-vault/client')), join(pkgRoot, 'dist', 'index.js'));
  assert.equal(typeof lib.VaultClient, 'function');
  // The protocol module the tests use is the one the package uses.
  assert.equal(lib.PROTOCOL_VERSION, protocol.PROTOCOL_VERSION);
});

vectorTests(lib, protocol, 'esm');
unitTests(lib, protocol, 'esm');
daemonTests(lib, 'esm', { esm: true, cwd: pkgRoot });
watchTests(lib, protocol, 'esm');
