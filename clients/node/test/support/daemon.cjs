'use strict';
// Finding, starting and stopping a real jawn-vault daemon for tests.
//
// The binary is $JAWN_VAULT_BIN when set; otherwise it is built once with
// `go build` from the repository root into a temporary directory (test/run.mjs
// does that once and passes JAWN_VAULT_BIN to every test process).
// `jawn-vault dev --json --socket PATH` prints one JSON line when it is ready;
// tests wait for that line, never for a fixed time.
const { spawn, spawnSync } = require('node:child_process');
const { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');


const REPO_ROOT = resolve(__dirname, '../../../..');
const READY_TIMEOUT_MS = 60_000;
let built = null;

/** The path of the jawn-vault binary under test (built on first use). */
function daemonBinary() {
  const fromEnv = process.env.JAWN_VAULT_BIN;
  if (fromEnv) {
    accessSync(fromEnv, constants.X_OK);
    return fromEnv;
  }
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'vaultsdk-js-bin-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const target = join(dir, 'jawn-vault');
    const run = spawnSync('go', ['build', '-o', target, './cmd/jawn-vault'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 600_000,
    });
    if (run.error) throw new Error(`cannot run go (set JAWN_VAULT_BIN to a built jawn-vault): ${run.error.message}`);
    if (run.status !== 0) throw new Error(`go build ./cmd/jawn-vault failed:\n${run.stdout}${run.stderr}`);
    built = target;
  }
  return built;
}

function cleanEnv() {
  const env = { ...process.env };
  delete env.VAULT_TOKEN;
  delete env.VAULT_SOCKET;
  return env;
}

/**
 * Start `jawn-vault dev` and resolve once it serves:
 * { socket, token, info, dir, stop(), cleanup() }.
 */
async function startDaemon({ socketPath } = {}) {
  const binary = daemonBinary();
  const dir = mkdtempSync(join(tmpdir(), 'vaultsdk-js-')); // short: AF_UNIX paths are limited
  const socket = socketPath ?? join(dir, 'vault.sock');
  const stderrPath = join(dir, 'stderr.log');
  const stderrFd = openSync(stderrPath, 'w');
  const child = spawn(binary, ['dev', '--json', '--socket', socket], {
    stdio: ['ignore', 'pipe', stderrFd],
    env: cleanEnv(),
  });
  closeSync(stderrFd);
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  const stderrTail = () => {
    try {
      return readFileSync(stderrPath, 'utf8').slice(-4000);
    } catch {
      return '';
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  };
  const cleanup = async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
  let line;
  try {
    line = await new Promise((res, rej) => {
      let buf = '';
      const timer = setTimeout(
        () => rej(new Error(`jawn-vault dev not ready after ${READY_TIMEOUT_MS} ms\n${stderrTail()}`)),
        READY_TIMEOUT_MS,
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          res(buf.slice(0, nl));
        }
      });
      exited.then(({ code, signal }) => {
        clearTimeout(timer);
        rej(new Error(`jawn-vault dev exited (${code ?? signal}) before it was ready\n${stderrTail()}`));
      });
    });
  } catch (err) {
    await cleanup();
    throw err;
  }
  child.stdout.resume(); // keep draining: the daemon must never block on a full pipe
  const info = JSON.parse(line);
  if (typeof info.token !== 'string' || typeof info.socket !== 'string') {
    await cleanup();
    throw new Error(`unexpected ready line from jawn-vault dev: ${line.slice(0, 200)}`);
  }
  return { socket, token: info.token, info, dir, stop, cleanup, stderrTail };
}

module.exports = { REPO_ROOT, daemonBinary, startDaemon };
