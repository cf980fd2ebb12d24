// `npm test` runs this after the build: it finds the daemon binary once
// ($JAWN_VAULT_BIN, or `go build` into a temporary directory), hands it to
// every test process through JAWN_VAULT_BIN, and runs `node --test` on the
// test files (the ESM build's and the CommonJS build's).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import support from './support/daemon.cjs';

const here = dirname(fileURLToPath(import.meta.url));
let bin;
try {
  bin = support.daemonBinary();
} catch (err) {
  console.error(`cannot find or build jawn-vault: ${err.message}`);
  process.exit(1);
}
const files = readdirSync(here)
  .filter((f) => /\.test\.(mjs|cjs)$/.test(f))
  .sort()
  .map((f) => join(here, f));
const run = spawnSync(process.execPath, ['--test', ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
  env: { ...process.env, JAWN_VAULT_BIN: bin },
});
process.exitCode = run.status ?? 1;
