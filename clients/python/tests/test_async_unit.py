"""Unit tests of AsyncVaultClient against a scripted fake daemon."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import unittest
from typing import Any, Dict

from _fake import FakeConn, FakeDaemon, echo_handler

from jawn_vault import AsyncVaultClient, BinaryValue, Busy, DaemonUnavailable, NotFound, ProtocolError, Timeout


class AsyncFakeTest(unittest.IsolatedAsyncioTestCase):
    def fake(self, handler: Any) -> FakeDaemon:
        d = FakeDaemon(handler)
        self.addCleanup(d.close)
        return d

    async def test_methods(self) -> None:
        values: Dict[str, Any] = {"a": "1"}
        d = self.fake(echo_handler(values))
        async with AsyncVaultClient(d.path, "jv_t", timeout=5) as c:
            self.assertEqual(await c.get("a"), "1")
            await c.set("b", b"\xff")
            self.assertEqual(values["b"], "/w==")
            self.assertEqual(await c.list(), ["a", "b"])
            self.assertEqual((await c.health())["status"], "ok")
            with self.assertRaises(NotFound):
                await c.get("zzz")
            self.assertEqual(await c.get_many({"X": "a"}), {"X": "1"})
        self.assertTrue(c.closed)
        with self.assertRaises(RuntimeError):
            await c.get("a")
        self.assertEqual(d.connections, 1)

    async def test_concurrent_calls_share_one_connection(self) -> None:
        values = {f"k{i}": f"v{i}" for i in range(40)}
        d = self.fake(echo_handler(values))
        c = AsyncVaultClient(d.path, "", timeout=5)
        try:
            got = await asyncio.gather(*(c.get(f"k{i}") for i in range(40)))
            self.assertEqual(got, [f"v{i}" for i in range(40)])
        finally:
            await c.aclose()
        self.assertEqual(d.connections, 1)

    async def test_requests_are_pipelined(self) -> None:
        def handler(conn: FakeConn) -> None:
            reqs = [conn.read_request() for _ in range(5)]
            conn.send(b"".join(
                json.dumps({"id": r["id"], "result": {"value": r["params"]["path"]}}).encode() + b"\n"
                for r in reqs if r is not None
            ))
            while conn.read_request() is not None:
                pass

        c = AsyncVaultClient(self.fake(handler).path, "", timeout=3)
        try:
            got = await asyncio.gather(*(c.get(f"p{i}") for i in range(5)))
            self.assertEqual(got, [f"p{i}" for i in range(5)])
        finally:
            await c.aclose()

    async def test_id_mismatch(self) -> None:
        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                if conn.index == 1:
                    conn.send(b'{"id":"other","result":{}}\n')
                else:
                    conn.answer(req, {"status": "ok"})

        d = self.fake(handler)
        c = AsyncVaultClient(d.path, "", timeout=5)
        try:
            with self.assertRaises(ProtocolError):
                await c.health()
            self.assertEqual(await c.health(), {"status": "ok"})
            self.assertEqual(d.connections, 2)
        finally:
            await c.aclose()

    async def test_busy(self) -> None:
        def handler(conn: FakeConn) -> None:
            conn.send(b'{"id":null,"error":{"code":"busy","message":"full"}}\n')

        c = AsyncVaultClient(self.fake(handler).path, "", timeout=5)
        try:
            with self.assertRaises(Busy):
                await c.health()
        finally:
            await c.aclose()

    async def test_binary(self) -> None:
        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                conn.answer(req, {"value_b64": "/wA="})

        c = AsyncVaultClient(self.fake(handler).path, "", timeout=5)
        try:
            self.assertEqual(await c.get_bytes("x"), b"\xff\x00")
            with self.assertRaises(BinaryValue):
                await c.get("x")
        finally:
            await c.aclose()

    async def test_timeout_then_fresh_connection(self) -> None:
        release = threading.Event()
        self.addCleanup(release.set)

        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if conn.index == 1:
                release.wait(10)
                return
            while req is not None:
                conn.answer(req, {"status": "ok"})
                req = conn.read_request()

        d = self.fake(handler)
        c = AsyncVaultClient(d.path, "", timeout=0.3)
        try:
            with self.assertRaises(Timeout):
                await c.health()
            self.assertEqual(await c.health(), {"status": "ok"})
            self.assertEqual(d.connections, 2)
        finally:
            await c.aclose()

    async def test_timeout_watches_progress_not_single_calls(self) -> None:
        # Eight concurrent calls answered a quarter of the timeout apart:
        # the last waits twice the timeout, but the daemon never stalls.
        def handler(conn: FakeConn) -> None:
            reqs = [conn.read_request() for _ in range(8)]
            for r in reqs:
                time.sleep(0.25)
                if r is not None:
                    conn.answer(r, {"value": r["params"]["path"]})
            while conn.read_request() is not None:
                pass

        c = AsyncVaultClient(self.fake(handler).path, "", timeout=1.0)
        try:
            got = await asyncio.gather(*(c.get(f"p{i}") for i in range(8)))
            self.assertEqual(got, [f"p{i}" for i in range(8)])
        finally:
            await c.aclose()

    async def test_reconnect_rules(self) -> None:
        def handler(conn: FakeConn) -> None:
            req = conn.read_request()
            if req is not None and req["params"].get("path") == "answer":
                conn.answer(req, {"value": "v"})
            # otherwise hang up unanswered

        d = self.fake(handler)
        c = AsyncVaultClient(d.path, "", timeout=5)
        try:
            # get: lost after sending, retried once on a new connection.
            self.assertEqual(await c.get("answer"), "v")
            d.wait_hung_up(1)
            # The idle connection died: replaced before sending.
            self.assertEqual(await c.get("answer"), "v")
            self.assertEqual(d.connections, 2)
            d.wait_hung_up(2)
            # set: lost after sending, never re-sent.
            with self.assertRaises(DaemonUnavailable) as ctx:
                await c.set("nothing", "x")
            self.assertIn("may or may not", str(ctx.exception))
            self.assertEqual(d.connections, 3)
            self.assertEqual([r["method"] for r in d.requests], ["get", "get", "set"])
        finally:
            await c.aclose()

    async def test_cancelled_call_does_not_desynchronise(self) -> None:
        gate = threading.Event()
        self.addCleanup(gate.set)

        def handler(conn: FakeConn) -> None:
            while (req := conn.read_request()) is not None:
                if req["params"]["path"] == "slow":
                    gate.wait(10)
                conn.answer(req, {"value": req["params"]["path"]})

        c = AsyncVaultClient(self.fake(handler).path, "", timeout=5)
        try:
            slow = asyncio.ensure_future(c.get("slow"))
            await asyncio.sleep(0.05)
            slow.cancel()
            gate.set()
            self.assertEqual(await c.get("after"), "after")
        finally:
            await c.aclose()

    async def test_connect_failure(self) -> None:
        c = AsyncVaultClient("/nonexistent/jv.sock", "")
        with self.assertRaises(DaemonUnavailable):
            await c.health()


if __name__ == "__main__":
    unittest.main()
