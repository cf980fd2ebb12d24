// Time the Node SDK's get beside a raw-socket round trip (the floor).
//
// Usage: VAULT_SOCKET=S VAULT_TOKEN=T node bench/sdk_get.mjs PATH N
//
// Prints one JSON line: {"sdk": {"p50_us", "p99_us", "n"}, "raw": {...}}.
// Both make N gets of PATH on one connection, one request in flight, in
// alternating blocks so that the machine's noise falls on both. The SDK is
// the built package (clients/node/dist). The raw client is the least a
// correct client does: write the request line, read one answer line, parse
// its JSON and check the id. `vault-bench suite` runs this; see
// bench/README.md.
import net from 'node:net';
import { once } from 'node:events';

const { VaultClient } = await import(new URL('../clients/node/dist/index.js', import.meta.url));

const BLOCKS = 10;
const WARMUP = 200;

class RawClient {
  #sock;
  #buf = '';
  #waiting = null;
  #nextId = 0;
  #auth;

  constructor(sock, token) {
    this.#sock = sock;
    this.#auth = JSON.stringify(token);
    sock.setEncoding('utf8');
    sock.on('data', (chunk) => {
      this.#buf += chunk;
      const i = this.#buf.indexOf('\n');
      if (i >= 0 && this.#waiting) {
        const line = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 1);
        const w = this.#waiting;
        this.#waiting = null;
        w.resolve(line);
      }
    });
    sock.on('error', (err) => this.#waiting?.reject(err));
  }

  static async connect(path, token) {
    const sock = net.createConnection(path);
    await once(sock, 'connect');
    return new RawClient(sock, token);
  }

  async get(path) {
    const id = ++this.#nextId;
    const line = await new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#sock.write(`{"id":${id},"auth":${this.#auth},"method":"get","params":{"path":${JSON.stringify(path)}}}\n`);
    });
    const answer = JSON.parse(line);
    if (answer.id !== id || !answer.result) throw new Error(`unexpected answer: ${line.slice(0, 200)}`);
    return answer.result.value;
  }

  close() {
    this.#sock.end();
  }
}

function summary(ns) {
  ns.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = (q) => ns[Math.max(0, Math.ceil((ns.length * q) / 100) - 1)];
  const us = (v) => Math.round(Number(v) / 100) / 10;
  return { p50_us: us(rank(50)), p99_us: us(rank(99)), n: ns.length };
}

const [path, nArg] = process.argv.slice(2);
const n = Number(nArg);
const sdk = new VaultClient(); // $VAULT_SOCKET, $VAULT_TOKEN
await sdk.connect();
const raw = await RawClient.connect(process.env.VAULT_SOCKET, process.env.VAULT_TOKEN);
if ((await sdk.get(path)) !== (await raw.get(path))) throw new Error('the SDK and the raw socket read different values');
for (let i = 0; i < WARMUP; i++) {
  await sdk.get(path);
  await raw.get(path);
}
const times = { sdk: [], raw: [] };
const clients = { sdk, raw };
const perBlock = Math.max(1, Math.floor(n / BLOCKS));
while (times.raw.length < n) {
  for (const name of ['sdk', 'raw']) {
    const out = times[name];
    const client = clients[name];
    for (let i = Math.min(perBlock, n - out.length); i > 0; i--) {
      const t0 = process.hrtime.bigint();
      await client.get(path);
      out.push(process.hrtime.bigint() - t0);
    }
  }
}
await sdk.close();
raw.close();
console.log(JSON.stringify({ sdk: summary(times.sdk), raw: summary(times.raw) }));
