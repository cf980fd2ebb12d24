"""Unit tests of VaultClient against a scripted fake daemon."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest
from typing import Any, Dict, List, Optional

from _fake import FakeConn, FakeDaemon, echo_handler

from jawn_vault import (
    BinaryValue,
    Busy,
    DaemonUnavailable,
    NotFound,
    ProtocolError,
    Timeout,
    VaultClient,
)

SECRET = "s3cr3t-value-never-in-messages"


class FakeTestCase(unittest.TestCase):
    def fake(self, handler: Any) -> FakeDaemon:
        daemon = FakeDaemon(handler)
        self.addCleanup(daemon.close)
        return daemon

    def client(self, daemon: FakeDaemon, **kw: Any) -> VaultClient:
        kw.setdefault("timeout", 5.0)
        c = VaultClient(daemon.path, "jv_test", **kw)
        self.addCleanup(c.close)
        return c


class RoundTripTest(FakeTestCase):
    def test_methods(self) -> None:
        values: Dict[str, Any] = {"a/b": "v1"}
        d = self.fake(echo_handler(values))
        c = self.client(d)
        self.assertEqual(c.get("a/b"), "v1")
        c.set("a/c", "v2")
        self.assertEqual(values["a/c"], "v2")
        c.set("a/bin", b"\xff\x00")
        self.assertEqual(values["a/bin"], "/wA=")
        self.assertEqual(c.list(), ["a/b", "a/bin", "a/c"])
        self.assertEqual(c.health()["status"], "ok")
        with self.assertRaises(NotFound) as ctx:
            c.get("nope")
        self.assertEqual(ctx.exception.code, "not_found")
        # An error answer leaves the connection in use.
        self.assertEqual(c.get("a/b"), "v1")
        self.assertEqual(d.connections, 1)
        first = d.requests[0]
        self.assertEqual(first, {"id": "py-1", "auth": "jv_test", "method": "get", "params": {"path": "a/b"}})
        ids = [r["id"] for r in d.requests]
        self.assertEqual(len(ids), len(set(ids)))

    def test_list_prefix_is_sent_only_when_given(self) -> None:
        d = self.fake(echo_handler({}))
        c = self.client(d)
        c.list()
        c.list("")
        c.list("claude/")
        self.assertEqual([r["params"] for r in d.requests], [{}, {}, {"prefix": "claude/"}])

    def test_binary_values(self) -> None:
        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                conn.answer(req, {"value_b64": "/wA="})

        c = self.client(self.fake(handler))
        self.assertEqual(c.get_bytes("x"), b"\xff\x00")
        with self.assertRaises(BinaryValue):
            c.get("x")
        # A refused binary value is not a connection problem.
        self.assertEqual(c.get_bytes("x"), b"\xff\x00")

    def test_lazy_connect_and_close(self) -> None:
        d = self.fake(echo_handler({"a": "1"}))
        c = VaultClient(d.path, "")
        self.assertEqual(d.connections, 0)
        self.assertEqual(c.get("a"), "1")
        self.assertFalse(c.closed)
        c.close()
        c.close()
        self.assertTrue(c.closed)
        with self.assertRaises(RuntimeError):
            c.get("a")
        with self.assertRaises(RuntimeError):
            with c:
                pass

    def test_context_manager_connects_eagerly(self) -> None:
        d = self.fake(echo_handler({}))
        with VaultClient(d.path, "") as c:
            self.assertIn("connected", repr(c))
        self.assertTrue(c.closed)
        with self.assertRaises(DaemonUnavailable) as ctx:
            with VaultClient(os.path.join(d.dir, "missing.sock"), ""):
                pass
        self.assertEqual(ctx.exception.code, "daemon_unavailable")
        self.assertIn("missing.sock", str(ctx.exception))

    def test_refused_connection(self) -> None:
        tmp = tempfile.mkdtemp(prefix="vaultsdk-pydead-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "s.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # bound, never listening: connect is refused
        with self.assertRaises(DaemonUnavailable):
            VaultClient(path, "").health()

    def test_socket_factory_is_used(self) -> None:
        calls: List[str] = []
        values = {"k": "v"}

        def factory(path: str, timeout: Optional[float]) -> socket.socket:
            calls.append(path)
            ours, theirs = socket.socketpair()

            def serve() -> None:
                with theirs:
                    echo_handler(values)(FakeConn(theirs, 1))

            threading.Thread(target=serve, daemon=True).start()
            return ours

        c = VaultClient("/nowhere.sock", "", socket_factory=factory)
        self.addCleanup(c.close)
        self.assertEqual(c.get("k"), "v")
        self.assertEqual(calls, ["/nowhere.sock"])


class FramingTest(FakeTestCase):
    def test_answer_split_into_single_bytes(self) -> None:
        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                line = json.dumps({"id": req["id"], "result": {"value": "é" * 50}}).encode() + b"\n"
                for i in range(len(line)):
                    conn.send(line[i : i + 1])
                    if i % 20 == 0:
                        time.sleep(0.001)

        c = self.client(self.fake(handler))
        self.assertEqual(c.get("x"), "é" * 50)
        self.assertEqual(c.get("x"), "é" * 50)

    def test_get_many_is_pipelined_and_answers_may_arrive_merged(self) -> None:
        def handler(conn: FakeConn) -> None:
            # Read every request before answering any: a client that waits
            # for each answer before sending the next would time out here.
            reqs = [conn.read_request() for _ in range(3)]
            conn.send(b"".join(
                json.dumps({"id": r["id"], "result": {"value": "v-" + r["params"]["path"]}}).encode() + b"\n"
                for r in reqs if r is not None
            ))
            while conn.read_request() is not None:
                pass

        c = self.client(self.fake(handler), timeout=3.0)
        env = c.get_many({"A": "p/a", "B": "p/b", "C": "p/a"})
        self.assertEqual(env, {"A": "v-p/a", "B": "v-p/b", "C": "v-p/a"})
        self.assertEqual(c.get_many({}), {})

    def test_get_many_large_mapping(self) -> None:
        values = {f"p/{i}": f"v{i}" for i in range(300)}
        c = self.client(self.fake(echo_handler(values)))
        mapping = {f"E{i}": f"p/{i}" for i in range(300)}
        self.assertEqual(c.get_many(mapping), {f"E{i}": f"v{i}" for i in range(300)})

    def test_get_many_raises_the_first_failure_in_order(self) -> None:
        d = self.fake(echo_handler({"p/ok": "1"}))
        c = self.client(d)
        with self.assertRaises(NotFound) as ctx:
            c.get_many({"GOOD": "p/ok", "MISSING": "p/missing", "ALSO": "p/gone"})
        self.assertTrue(str(ctx.exception).startswith("not_found: MISSING: "), str(ctx.exception))
        self.assertEqual(c.get("p/ok"), "1")
        self.assertEqual(d.connections, 1)

    def test_id_mismatch_is_a_protocol_error_and_drops_the_connection(self) -> None:
        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                if conn.index == 1:
                    conn.send(b'{"id":"py-999","result":{"value":"x"}}\n')
                else:
                    conn.answer(req, {"value": "right"})

        d = self.fake(handler)
        c = self.client(d)
        with self.assertRaises(ProtocolError):
            c.get("x")
        self.assertEqual(c.get("x"), "right")
        self.assertEqual(d.connections, 2)

    def test_garbage_answer_is_a_protocol_error_without_the_secret(self) -> None:
        def handler(conn: FakeConn) -> None:
            while conn.read_request() is not None:
                conn.send(f"HTTP/1.1 200 OK {SECRET}\n".encode())

        c = self.client(self.fake(handler))
        with self.assertRaises(ProtocolError) as ctx:
            c.get("x")
        self.assertNotIn(SECRET, str(ctx.exception))

    def test_over_long_answer_stops_at_the_limit(self) -> None:
        stop = threading.Event()

        def handler(conn: FakeConn) -> None:
            conn.read_request()
            conn.send(b'{"id":"py-1","result":{"value":"' + b"a" * 5000)
            stop.wait(10)  # never send the newline

        self.addCleanup(stop.set)
        c = self.client(self.fake(handler), max_line=1024)
        with self.assertRaises(ProtocolError):
            c.get("x")

    def test_busy_answer_without_id(self) -> None:
        def handler(conn: FakeConn) -> None:
            conn.send(b'{"id":null,"error":{"code":"busy","message":"too many connections"}}\n')

        d = self.fake(handler)
        c = self.client(d)
        with self.assertRaises(Busy) as ctx:
            c.health()
        self.assertIsNone(ctx.exception.request_id)


class ReconnectTest(FakeTestCase):
    def test_dead_idle_connection_is_replaced_before_sending(self) -> None:
        # Each connection answers one request and hangs up, as a daemon
        # that restarts between calls would.
        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if req is not None:
                conn.answer(req, {})

        d = self.fake(handler)
        c = self.client(d)
        c.set("a", "1")
        d.wait_hung_up(1)
        c.set("a", "2")
        d.wait_hung_up(2)
        c.delete("a")
        self.assertEqual([r["method"] for r in d.requests], ["set", "set", "delete"])
        self.assertEqual(d.connections, 3)

    def test_idempotent_call_is_retried_once_after_loss(self) -> None:
        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if req is not None and conn.index > 1:
                conn.answer(req, {"value": "v"})
            # connection 1 hangs up without answering

        d = self.fake(handler)
        c = self.client(d)
        self.assertEqual(c.get("x"), "v")
        self.assertEqual(d.connections, 2)
        self.assertEqual([r["method"] for r in d.requests], ["get", "get"])

    def test_retry_happens_only_once(self) -> None:
        def handler(conn: FakeConn) -> None:
            conn.read_request()  # every connection hangs up unanswered

        d = self.fake(handler)
        c = self.client(d)
        with self.assertRaises(DaemonUnavailable):
            c.list()
        self.assertEqual(d.connections, 2)

    def test_set_and_delete_are_never_resent_after_loss(self) -> None:
        for method in ("set", "delete"):
            with self.subTest(method):
                def handler(conn: FakeConn) -> None:
                    conn.read_request()  # read it, then hang up unanswered

                d = self.fake(handler)
                c = self.client(d)
                with self.assertRaises(DaemonUnavailable) as ctx:
                    if method == "set":
                        c.set("a", SECRET)
                    else:
                        c.delete("a")
                self.assertIn("may or may not", str(ctx.exception))
                self.assertNotIn(SECRET, str(ctx.exception))
                self.assertEqual([r["method"] for r in d.requests], [method])
                self.assertEqual(d.connections, 1)

    def test_partial_answer_then_hang_up(self) -> None:
        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if req is None:
                return
            if conn.index == 1:
                conn.send(b'{"id":"' + req["id"].encode() + b'","result":{"val')
            else:
                conn.answer(req, {"value": "whole"})

        d = self.fake(handler)
        c = self.client(d)
        self.assertEqual(c.get("x"), "whole")

    def test_timeout_drops_the_connection(self) -> None:
        release = threading.Event()
        self.addCleanup(release.set)

        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if conn.index == 1:
                release.wait(10)  # never answer in time
                return
            while req is not None:
                conn.answer(req, {"status": "ok"})
                req = conn.read_request()

        d = self.fake(handler)
        c = self.client(d, timeout=0.3)
        with self.assertRaises(Timeout) as ctx:
            c.health()
        self.assertIsInstance(ctx.exception, DaemonUnavailable)
        self.assertEqual(ctx.exception.code, "timeout")
        # A late answer on the old connection can never be misread.
        self.assertEqual(c.health(), {"status": "ok"})
        self.assertEqual(d.connections, 2)

    def test_timeout_runs_per_answer_not_per_batch(self) -> None:
        # Eight answers a quarter of the timeout apart: the batch takes twice
        # the timeout, but the daemon never stalls, so nothing times out.
        def handler(conn: FakeConn) -> None:
            reqs = [conn.read_request() for _ in range(8)]
            for r in reqs:
                time.sleep(0.25)
                if r is not None:
                    conn.answer(r, {"value": r["params"]["path"]})
            while conn.read_request() is not None:
                pass

        c = self.client(self.fake(handler), timeout=1.0)
        mapping = {f"E{i}": f"p{i}" for i in range(8)}
        self.assertEqual(c.get_many(mapping), {f"E{i}": f"p{i}" for i in range(8)})


class ThreadsTest(FakeTestCase):
    def test_threads_share_one_client(self) -> None:
        values = {f"k{i}": f"v{i}" for i in range(8)}
        d = self.fake(echo_handler(values))
        c = self.client(d)
        failures: List[BaseException] = []

        def work(i: int) -> None:
            try:
                for _ in range(50):
                    if c.get(f"k{i}") != f"v{i}":
                        raise AssertionError("wrong value")
            except BaseException as err:
                failures.append(err)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(d.connections, 1)
        self.assertEqual(len(d.requests), 400)


if __name__ == "__main__":
    unittest.main()
