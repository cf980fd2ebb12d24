"""watch: VaultClient.watch and AsyncVaultClient.watch against a real
`jawn-vault dev` daemon, plus the event-line parser."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import unittest
import uuid
from typing import Any, Dict, List, Optional

from _daemon import Daemon

from jawn_vault import AsyncVaultClient, DaemonUnavailable, Event, PermissionDenied, ProtocolError, VaultClient, Watcher
from jawn_vault._protocol import parse_response, parse_watch_line, watch_params

daemon: Daemon

EVENT_DEADLINE = 5.0


def setUpModule() -> None:
    global daemon
    daemon = Daemon().start()


def tearDownModule() -> None:
    daemon.cleanup()


def unique(prefix: str = "test/pywatch") -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


class ParseTest(unittest.TestCase):
    def test_event_lines(self) -> None:
        self.assertEqual(
            parse_watch_line(b'{"event":"changed","path":"a/b","version":3}'), Event("changed", "a/b", 3)
        )
        self.assertEqual(parse_watch_line(b'{"event":"stale","version":4}'), Event("stale", None, 4))
        answer = parse_watch_line(b'{"id":"py-watch","result":{"version":0}}')
        self.assertNotIsInstance(answer, Event)
        for bad in (
            b'{"event":"changed","version":3}',
            b'{"event":"changed","path":"a","version":"3"}',
            b'{"event":"changed","path":"a","version":true}',
            b'{"event":"changed","path":"a","version":1,"id":"x"}',
            b'{"event":"","version":1}',
            b"not json",
        ):
            with self.assertRaises(ProtocolError, msg=bad):
                parse_watch_line(bad)

    def test_request_connection_refuses_events(self) -> None:
        with self.assertRaises(ProtocolError):
            parse_response(b'{"event":"changed","path":"a/b","version":3}')

    def test_params(self) -> None:
        self.assertEqual(watch_params(["a", "b"]), {"paths": ["a", "b"]})
        self.assertEqual(watch_params(prefix="a/"), {"prefix": "a/"})
        self.assertEqual(watch_params(), {})
        with self.assertRaises(ValueError):
            watch_params(["a"], "b")
        with self.assertRaises(TypeError):
            watch_params("a/b")  # type: ignore[arg-type]


class WatchTest(unittest.TestCase):
    def client(self, token: Any = None) -> VaultClient:
        c = VaultClient(daemon.socket, daemon.token if token is None else token)
        self.addCleanup(c.close)
        return c

    def make_token(self, grants: List[Dict[str, str]]) -> str:
        result = self.client()._call("token.create", {"name": f"pyw-{uuid.uuid4().hex[:12]}", "grants": grants})
        return result["token"]

    def watch(self, client: VaultClient, **kw: Any) -> Watcher:
        w = client.watch(**kw)
        self.addCleanup(w.close)
        return w

    def first_event(self, w: Watcher, want: Optional[str] = None) -> Event:
        """The first event (or first for path ``want``) within the deadline."""
        deadline = time.monotonic() + EVENT_DEADLINE
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail(f"no event{' for ' + want if want else ''} within {EVENT_DEADLINE} s")
            ev = w.next_event(left)
            if ev is None:
                continue
            if want is None or ev.path == want:
                return ev

    def test_set_produces_changed_event(self) -> None:
        path = unique()
        watcher_client = self.client()
        w = self.watch(watcher_client, paths=[path])
        self.assertIsInstance(w.version, int)
        self.client().set(path, "v1")
        ev = self.first_event(w)
        self.assertEqual(ev.kind, "changed")
        self.assertEqual(ev.path, path)
        self.assertGreater(ev.version, w.version)
        # The watcher's connection is its own: the client still answers,
        # and reads the value that the event announced.
        self.assertEqual(watcher_client.get(path), "v1")
        self.assertIsNot(w._sock, watcher_client._sock)

    def test_store_wide_change_gives_stale(self) -> None:
        # The store's .gpg-id changing says nothing about which entries did:
        # every watcher hears "stale", with no path.
        w = self.watch(self.client(), paths=[unique()])
        os.utime(os.path.join(daemon.info["store"], ".gpg-id"))
        ev = self.first_event(w)
        self.assertEqual(ev.kind, "stale")
        self.assertIsNone(ev.path)
        self.assertGreater(ev.version, w.version)

    def test_prefix_and_iteration(self) -> None:
        folder = unique()
        w = self.watch(self.client(), prefix=folder + "/", timeout=EVENT_DEADLINE)
        writer = self.client()
        writer.set(folder + "/x", "1")
        writer.set(unique(), "outside")  # not under the prefix
        writer.set(folder + "/y", "2")
        seen: List[str] = []
        for ev in w:
            self.assertEqual(ev.kind, "changed")
            self.assertTrue(ev.path.startswith(folder + "/"), ev.path)
            if ev.path not in seen:
                seen.append(ev.path)
            if len(seen) == 2:
                break
        self.assertEqual(seen, [folder + "/x", folder + "/y"])

    def test_unreadable_path_gives_no_event(self) -> None:
        readable = unique("test/pywatch/ok")
        hidden = unique("test/pywatch/secret")
        token = self.make_token([{"pattern": "test/pywatch/ok/*", "level": "read"}])
        # Watches everything the narrow token may read.
        w = self.watch(self.client(token=token))
        writer = self.client()
        writer.set(hidden, "not for you")
        writer.set(readable, "for you")
        ev = self.first_event(w)
        self.assertEqual(ev, Event("changed", readable, ev.version))

    def test_unreadable_named_path_is_refused(self) -> None:
        token = self.make_token([{"pattern": "test/pywatch/ok/*", "level": "read"}])
        with self.assertRaises(PermissionDenied):
            self.client(token=token).watch(paths=[unique("test/pywatch/secret"), unique("test/pywatch/ok")])

    def test_close_ends_iteration(self) -> None:
        w = self.client().watch(paths=[unique()])
        got: List[Any] = []

        def run() -> None:
            try:
                got.extend(list(w))
                got.append("ended")
            except BaseException as err:  # pragma: no cover - reported below
                got.append(err)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        time.sleep(0.2)
        self.assertTrue(t.is_alive(), "iteration ended before close")
        w.close()
        t.join(EVENT_DEADLINE)
        self.assertFalse(t.is_alive(), "close did not end the iteration")
        self.assertEqual(got, ["ended"])
        self.assertTrue(w.closed)
        self.assertEqual(list(w), [])

    def test_context_manager(self) -> None:
        with self.client().watch(paths=[unique()]) as w:
            self.assertFalse(w.closed)
        self.assertTrue(w.closed)
        with self.assertRaises(StopIteration):
            next(w)

    def test_next_event_times_out(self) -> None:
        w = self.watch(self.client(), paths=[unique()])
        start = time.monotonic()
        self.assertIsNone(w.next_event(0.2))
        self.assertGreaterEqual(time.monotonic() - start, 0.15)

    def test_revoked_token_disconnects(self) -> None:
        path = unique("test/pywatch/ok")
        admin = self.client()
        name = f"pyw-{uuid.uuid4().hex[:12]}"
        token = admin._call("token.create", {"name": name, "grants": [{"pattern": "test/pywatch/ok/*", "level": "read"}]})["token"]
        w = self.watch(self.client(token=token), paths=[path])
        admin._call("token.revoke", {"name": name})
        with self.assertRaises(DaemonUnavailable):
            deadline = time.monotonic() + EVENT_DEADLINE
            while time.monotonic() < deadline:
                w.next_event(deadline - time.monotonic())
            self.fail("the watcher was not disconnected")

    def test_daemon_gone_raises(self) -> None:
        d = Daemon().start()
        self.addCleanup(d.cleanup)
        c = VaultClient(d.socket, d.token)
        self.addCleanup(c.close)
        w = c.watch(paths=["a/b"])
        self.addCleanup(w.close)
        d.stop()
        with self.assertRaises(DaemonUnavailable):
            next(w)

    def test_closed_client_refuses(self) -> None:
        c = VaultClient(daemon.socket, daemon.token)
        c.close()
        with self.assertRaises(RuntimeError):
            c.watch(paths=["a/b"])


class AsyncWatchTest(unittest.IsolatedAsyncioTestCase):
    async def test_async_changed_and_close(self) -> None:
        path = unique()
        async with AsyncVaultClient(daemon.socket, daemon.token) as client:
            async with client.watch(paths=[path]) as w:

                async def first() -> Event:
                    async for ev in w:
                        if ev.path == path:
                            return ev
                    raise AssertionError("iteration ended without an event")

                task = asyncio.ensure_future(first())
                await client.set(path, "v")
                ev = await asyncio.wait_for(task, EVENT_DEADLINE)
                self.assertEqual((ev.kind, ev.path), ("changed", path))
                self.assertEqual(await client.get(path), "v")
                self.assertIsNotNone(client._conn)
                self.assertIsNot(w._sock, client._conn.sock)

    async def test_async_unreadable_path(self) -> None:
        readable = unique("test/pywatch/ok")
        hidden = unique("test/pywatch/secret")
        with VaultClient(daemon.socket, daemon.token) as admin:
            token = admin._call("token.create", {"name": f"pyw-{uuid.uuid4().hex[:12]}", "grants": [{"pattern": "test/pywatch/ok/*", "level": "read"}]})["token"]
        async with AsyncVaultClient(daemon.socket, token) as narrow, AsyncVaultClient(daemon.socket, daemon.token) as writer:
            w = narrow.watch(timeout=EVENT_DEADLINE)
            await w.start()
            try:
                await writer.set(hidden, "x")
                await writer.set(readable, "y")
                ev = await asyncio.wait_for(w.__anext__(), EVENT_DEADLINE)
                self.assertEqual(ev.path, readable)
            finally:
                await w.aclose()

    async def test_async_close_ends_iteration(self) -> None:
        async with AsyncVaultClient(daemon.socket, daemon.token) as client:
            w = client.watch(paths=[unique()])
            await w.start()
            events: List[Event] = []

            async def consume() -> str:
                async for ev in w:
                    events.append(ev)
                return "ended"

            task = asyncio.ensure_future(consume())
            await asyncio.sleep(0.2)
            self.assertFalse(task.done())
            await w.aclose()
            self.assertEqual(await asyncio.wait_for(task, EVENT_DEADLINE), "ended")
            self.assertEqual(events, [])
            with self.assertRaises(StopAsyncIteration):
                await w.__anext__()


if __name__ == "__main__":
    unittest.main()
