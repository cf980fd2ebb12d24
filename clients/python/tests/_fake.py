"""A scripted stand-in for the daemon on a temporary Unix socket, for unit
tests of framing, id matching, timeouts and reconnects."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional

Handler = Callable[["FakeConn"], None]


class FakeConn:
    """One accepted connection, seen from the fake daemon."""

    def __init__(self, sock: socket.socket, index: int) -> None:
        self.sock = sock
        self.index = index
        self._buf = b""

    def read_request(self) -> Optional[Dict[str, Any]]:
        """The next request line decoded, or None at end of file."""
        while b"\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                return None
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self, request: Dict[str, Any], result: Optional[Dict[str, Any]] = None, **error: str) -> None:
        if error:
            obj: Dict[str, Any] = {"id": request["id"], "error": error}
        else:
            obj = {"id": request["id"], "result": result if result is not None else {}}
        self.send(json.dumps(obj).encode() + b"\n")


class FakeDaemon:
    """Accepts connections and runs ``handler`` on each in its own thread.

    ``requests`` records every request read through FakeConn.read_request,
    ``connections`` counts accepted connections.
    """

    def __init__(self, handler: Handler) -> None:
        self.dir = tempfile.mkdtemp(prefix="vaultsdk-pyfake-")
        self.path = os.path.join(self.dir, "s.sock")
        self.handler = handler
        self.connections = 0
        self.requests: List[Dict[str, Any]] = []
        self.errors: List[BaseException] = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(16)
        self._conns: List[socket.socket] = []
        self._hung_up = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self._conns.append(sock)
            conn = FakeConn(sock, self.connections)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: FakeConn) -> None:
        original = conn.read_request

        def recording() -> Optional[Dict[str, Any]]:
            req = original()
            if req is not None:
                self.requests.append(req)
            return req

        conn.read_request = recording  # type: ignore
        try:
            self.handler(conn)
        except OSError:
            pass
        except BaseException as err:  # surfaced by tests that check .errors
            self.errors.append(err)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass
            with self._cond:
                self._hung_up += 1
                self._cond.notify_all()

    def wait_hung_up(self, n: int, timeout: float = 10.0) -> None:
        """Wait until ``n`` connections have been closed by the fake."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._hung_up >= n, timeout):
                raise AssertionError(f"fake daemon closed {self._hung_up} connections, want {n}")

    def close(self) -> None:
        self._stop = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in self._conns:
            try:
                s.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def echo_handler(values: Dict[str, Any]) -> Handler:
    """A handler that answers get from ``values`` (not_found otherwise), set
    into ``values``, health and list, until the client hangs up."""

    def handle(conn: FakeConn) -> None:
        while True:
            req = conn.read_request()
            if req is None:
                return
            method, params = req["method"], req.get("params") or {}
            if method == "get":
                if params["path"] in values:
                    conn.answer(req, {"value": values[params["path"]]})
                else:
                    conn.answer(req, code="not_found", message="no such entry")
            elif method == "set":
                values[params["path"]] = params.get("value", params.get("value_b64"))
                conn.answer(req, {})
            elif method == "list":
                conn.answer(req, {"paths": sorted(values)})
            elif method == "health":
                conn.answer(req, {"status": "ok", "protocol": 1, "version": "fake"})
            else:
                conn.answer(req, code="unknown_method", message="no such method")

    return handle
