"""Time the Python SDK's get beside a raw-socket round trip (the floor).

Usage: VAULT_SOCKET=S VAULT_TOKEN=T PYTHONPATH=clients/python \
           python3 bench/sdk_get.py PATH N

Prints one JSON line: {"sdk": {"p50_us", "p99_us", "n"}, "raw": {...}}.
Both make N gets of PATH on one connection, one request in flight, in
alternating blocks so that the machine's noise falls on both. The raw
client is the least a correct client does: format the request line, read
one answer line, parse its JSON and check the id. `vault-bench suite` runs
this; see bench/README.md.
"""

import json
import os
import socket
import sys
import time

from jawn_vault import VaultClient

BLOCKS = 10
WARMUP = 200


class RawClient:
    def __init__(self, path: str, token: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0
        self.auth = json.dumps(token).encode()

    def get(self, path: str) -> str:
        self.next_id += 1
        self.sock.sendall(b'{"id":%d,"auth":%s,"method":"get","params":{"path":%s}}\n'
                          % (self.next_id, self.auth, json.dumps(path).encode()))
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        answer = json.loads(line)
        if answer.get("id") != self.next_id or "result" not in answer:
            raise RuntimeError(f"unexpected answer: {line[:200]!r}")
        return answer["result"]["value"]

    def close(self) -> None:
        self.sock.close()


def summary(ns: list) -> dict:
    ns = sorted(ns)
    rank = lambda q: ns[max(0, -(-len(ns) * q // 100) - 1)]  # nearest rank
    return {"p50_us": round(rank(50) / 1e3, 1), "p99_us": round(rank(99) / 1e3, 1), "n": len(ns)}


def main() -> None:
    path, n = sys.argv[1], int(sys.argv[2])
    sdk = VaultClient()  # $VAULT_SOCKET, $VAULT_TOKEN
    sdk.connect()
    raw = RawClient(os.environ["VAULT_SOCKET"], os.environ["VAULT_TOKEN"])
    if sdk.get(path) != raw.get(path):
        raise SystemExit("the SDK and the raw socket read different values")
    for _ in range(WARMUP):
        sdk.get(path)
        raw.get(path)
    times = {"sdk": [], "raw": []}
    clock = time.perf_counter_ns
    per_block = max(1, n // BLOCKS)
    while len(times["raw"]) < n:
        for name, get in (("sdk", sdk.get), ("raw", raw.get)):
            out = times[name]
            for _ in range(min(per_block, n - len(out))):
                t0 = clock()
                get(path)
                out.append(clock() - t0)
    sdk.close()
    raw.close()
    print(json.dumps({name: summary(ns) for name, ns in times.items()}))


if __name__ == "__main__":
    main()
