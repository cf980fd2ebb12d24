"""VaultClient and AsyncVaultClient against a real `jawn-vault dev` daemon."""

from __future__ import annotations

import asyncio
import socket
import threading
import unittest
import uuid
from typing import Any, Dict, List

from _daemon import Daemon
from _vectors import load_vectors

from jawn_vault import (
    AsyncVaultClient,
    BinaryValue,
    DaemonUnavailable,
    InvalidPath,
    LineTooLong,
    NameTaken,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    VaultClient,
    VaultError,
)
from jawn_vault._protocol import parse_response

daemon: Daemon


def setUpModule() -> None:
    global daemon
    daemon = Daemon().start()


def tearDownModule() -> None:
    daemon.cleanup()


def unique(prefix: str = "test/py") -> str:
    return f"{prefix}/{uuid.uuid4().hex}"


class DaemonTestCase(unittest.TestCase):
    def client(self, token: Any = None, **kw: Any) -> VaultClient:
        c = VaultClient(daemon.socket, daemon.token if token is None else token, **kw)
        self.addCleanup(c.close)
        return c

    def make_token(self, grants: List[Dict[str, str]]) -> str:
        # token.create is an admin method outside the SDK's API; the tests
        # send it through the client's request path.
        admin = self.client()
        result = admin._call("token.create", {"name": f"py-{uuid.uuid4().hex[:12]}", "grants": grants})
        self.assertTrue(result["token"].startswith("jv_"))
        return result["token"]


class RoundTripTest(DaemonTestCase):
    def test_health(self) -> None:
        # health needs no token at all.
        h = self.client(token="jv_" + "B" * 43).health()
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["protocol"], 1)
        self.assertIsInstance(h["version"], str)

    def test_seeded_secrets(self) -> None:
        c = self.client()
        for path in ("claude/api/anthropic", "claude/tokens/telegram-bot"):
            value = c.get(path)
            self.assertIsInstance(value, str)
            self.assertTrue(value)
            self.assertFalse(value.endswith("\n"))

    def test_set_get_list_delete(self) -> None:
        c = self.client()
        folder = unique()
        values = {
            f"{folder}/plain": "123456:ABC-def",
            f"{folder}/multi": "line1\nline2\t\"q\" é 😀 <&> \u2028",
            f"{folder}/trailing": "ends with newline\n",
            f"{folder}/empty": "",
        }
        for path, value in values.items():
            c.set(path, value)
        for path, value in values.items():
            self.assertEqual(c.get(path), value, path)
        self.assertEqual(c.list(folder + "/"), sorted(values))
        self.assertEqual(c.list(folder + "/mu"), [f"{folder}/multi"])
        c.set(f"{folder}/plain", "overwritten")
        self.assertEqual(c.get(f"{folder}/plain"), "overwritten")
        for path in values:
            c.delete(path)
        self.assertEqual(c.list(folder + "/"), [])
        with self.assertRaises(NotFound):
            c.get(f"{folder}/plain")
        with self.assertRaises(NotFound):
            c.delete(f"{folder}/plain")

    def test_binary_values(self) -> None:
        c = self.client()
        path = unique()
        raw = bytes(range(256)) + b"\xff\xfe"
        c.set(path, raw)
        self.assertEqual(c.get_bytes(path), raw)
        with self.assertRaises(BinaryValue):
            c.get(path)
        # UTF-8 bytes travel as text and come back the same; a BOM survives.
        c.set(path, b"\xef\xbb\xbftext \xc3\xa9")
        self.assertEqual(c.get(path), "\ufefftext é")
        self.assertEqual(c.get_bytes(path), b"\xef\xbb\xbftext \xc3\xa9")
        c.delete(path)

    def test_large_value_and_line_limit(self) -> None:
        c = self.client()
        path = unique()
        big = "x" * (40 << 10)
        c.set(path, big)
        self.assertEqual(c.get(path), big)
        with self.assertRaises(LineTooLong):
            c.set(path, "y" * (70 << 10))
        # The daemon closed that connection; the client moves on.
        self.assertEqual(c.get(path), big)
        c.delete(path)

    def test_get_many(self) -> None:
        c = self.client()
        env = c.get_many({
            "TELEGRAM_BOT_TOKEN": "claude/tokens/telegram-bot",
            "ANTHROPIC_API_KEY": "claude/api/anthropic",
        })
        self.assertEqual(env, {
            "TELEGRAM_BOT_TOKEN": c.get("claude/tokens/telegram-bot"),
            "ANTHROPIC_API_KEY": c.get("claude/api/anthropic"),
        })
        with self.assertRaises(NotFound) as ctx:
            c.get_many({"OK": "claude/api/anthropic", "MISSING": unique()})
        self.assertIn("MISSING", str(ctx.exception))


class ErrorMappingTest(DaemonTestCase):
    def test_unauthenticated(self) -> None:
        c = self.client(token="jv_" + "A" * 43)
        for call in (lambda: c.get("claude/api/anthropic"), lambda: c.list(), lambda: c.set("test/x", "v")):
            with self.assertRaises(Unauthenticated) as ctx:
                call()
            self.assertEqual(ctx.exception.code, "unauthenticated")
            self.assertIsInstance(ctx.exception.request_id, str)

    def test_permission_denied_and_filtered_list(self) -> None:
        token = self.make_token([{"pattern": "claude/tokens/*", "level": "read"}])
        c = self.client(token=token)
        self.assertTrue(c.get("claude/tokens/telegram-bot"))
        with self.assertRaises(PermissionDenied):
            c.get("claude/api/anthropic")
        with self.assertRaises(PermissionDenied):
            c.set("claude/tokens/telegram-bot", "nope")
        with self.assertRaises(PermissionDenied):
            c.delete("claude/tokens/telegram-bot")
        # A path outside the grants is denied whether or not it exists.
        with self.assertRaises(PermissionDenied):
            c.get(unique("claude/api"))
        paths = c.list()
        self.assertIn("claude/tokens/telegram-bot", paths)
        self.assertTrue(all(p.startswith("claude/tokens/") for p in paths), paths)
        with self.assertRaises(PermissionDenied):
            c.get_many({"A": "claude/tokens/telegram-bot", "B": "claude/api/anthropic"})

    def test_invalid_path(self) -> None:
        c = self.client()
        for path in ("../etc/passwd", "a//b", "/abs", "trailing/", "-rf", "a/.hidden", "x.gpg", "back\\slash", "", "a\x00b"):
            with self.subTest(path=path):
                with self.assertRaises(InvalidPath):
                    c.get(path)
        with self.assertRaises(InvalidPath):
            c.set("../x", "v")

    def test_name_taken(self) -> None:
        # A second token.create with a live token's name raises NameTaken
        # (not BadRequest); once that token is revoked the name is free.
        admin = self.client()
        params = {"name": f"py-{uuid.uuid4().hex[:12]}", "grants": [{"pattern": "claude/tokens/*", "level": "read"}]}
        first = admin._call("token.create", params)
        with self.assertRaises(NameTaken) as ctx:
            admin._call("token.create", params)
        self.assertEqual(ctx.exception.code, "name_taken")
        self.assertIn(params["name"], ctx.exception.message)
        self.assertNotIn(first["token"], str(ctx.exception))
        admin._call("token.revoke", {"id": first["id"]})
        again = admin._call("token.create", params)
        self.assertNotEqual(again["id"], first["id"])

    def test_messages_do_not_carry_values_or_tokens(self) -> None:
        secret = "never-echo-" + uuid.uuid4().hex
        c = self.client(token="jv_" + "C" * 43)
        with self.assertRaises(VaultError) as ctx:
            c.set("test/x", secret)
        self.assertNotIn(secret, str(ctx.exception))
        self.assertNotIn("C" * 43, str(ctx.exception))


class DaemonConformanceTest(DaemonTestCase):
    """The shared request vectors, sent raw to the daemon. These test the
    daemon, not the SDK; they are here because the SDKs see the daemon from
    the outside."""

    def exchange(self, raw: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(daemon.socket)
            try:
                s.sendall(raw + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # an over-long line: the daemon may close before reading it all
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
            return buf.split(b"\n", 1)[0]

    def test_request_vectors(self) -> None:
        for v in load_vectors():
            if v["kind"] != "request":
                continue
            with self.subTest(v["name"]):
                answer = parse_response(self.exchange(v["raw"]))
                if v["expect"] == "error":
                    self.assertIsNotNone(answer.error, "the daemon accepted a bad request")
                    assert answer.error is not None
                    self.assertEqual(answer.error.code, v["error_code"])
                else:
                    self.assertEqual(answer.id, v["decoded"]["id"])
                    if answer.error is not None:
                        # Vector tokens are fake: refused, but not as malformed.
                        self.assertEqual(answer.error.code, "unauthenticated")


class ThreadsTest(DaemonTestCase):
    def test_threads_share_a_client(self) -> None:
        c = self.client()
        folder = unique()
        failures: List[BaseException] = []

        def work(i: int) -> None:
            try:
                for j in range(5):
                    path = f"{folder}/t{i}"
                    c.set(path, f"{i}-{j}")
                    if c.get(path) != f"{i}-{j}":
                        raise AssertionError("read back another thread's value")
                    c.get("claude/api/anthropic")
            except BaseException as err:
                failures.append(err)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertEqual(len(c.list(folder + "/")), 6)


class AsyncTest(unittest.IsolatedAsyncioTestCase):
    async def test_concurrency(self) -> None:
        folder = unique()
        async with AsyncVaultClient(daemon.socket, daemon.token) as c:
            await asyncio.gather(*(c.set(f"{folder}/k{i}", f"v{i}") for i in range(20)))
            got = await asyncio.gather(*(c.get(f"{folder}/k{i}") for i in range(20)))
            self.assertEqual(got, [f"v{i}" for i in range(20)])
            mixed = await asyncio.gather(
                c.health(), c.list(folder + "/"), c.get(f"{folder}/k3"), c.get_bytes(f"{folder}/k4"),
                return_exceptions=True,
            )
            self.assertEqual(mixed[0]["status"], "ok")  # type: ignore[index]
            self.assertEqual(len(mixed[1]), 20)  # type: ignore[arg-type]
            self.assertEqual(mixed[2:], ["v3", b"v4"])
            with self.assertRaises(NotFound):
                await c.get(f"{folder}/missing")
            env = await c.get_many({"A": f"{folder}/k1", "B": f"{folder}/k2"})
            self.assertEqual(env, {"A": "v1", "B": "v2"})
            await c.set(f"{folder}/bin", b"\x00\xff")
            self.assertEqual(await c.get_bytes(f"{folder}/bin"), b"\x00\xff")
            with self.assertRaises(Unauthenticated):
                async with AsyncVaultClient(daemon.socket, "jv_" + "D" * 43) as bad:
                    await bad.get(f"{folder}/k1")


class RestartTest(unittest.TestCase):
    """A daemon restarted on the same socket: the client carries on. The
    second daemon is a fresh `dev` instance with new tokens, so the client
    uses no token (the local owner)."""

    def setUp(self) -> None:
        self.first = Daemon().start()
        self.addCleanup(self.first.cleanup)
        self.path = self.first.socket

    def restart(self) -> Daemon:
        self.first.stop()
        second = Daemon(socket_path=self.path)
        self.addCleanup(second.cleanup)
        return second

    def test_reconnects_transparently(self) -> None:
        with VaultClient(self.path, "") as c:
            before = c.get("claude/api/anthropic")
            self.restart().start()
            self.assertEqual(c.get("claude/api/anthropic"), before)
            c.set(unique(), "written after the restart")

    def test_unavailable_while_down_then_recovers(self) -> None:
        c = VaultClient(self.path, "", timeout=5)
        self.addCleanup(c.close)
        self.assertEqual(c.health()["status"], "ok")
        second = self.restart()
        with self.assertRaises(DaemonUnavailable):
            c.get("claude/api/anthropic")
        with self.assertRaises(DaemonUnavailable):
            c.set("test/x", "v")
        second.start()
        self.assertTrue(c.get("claude/api/anthropic"))

    def test_async_reconnects(self) -> None:
        async def scenario() -> None:
            async with AsyncVaultClient(self.path, "") as c:
                self.assertEqual((await c.health())["status"], "ok")
                # Starting a daemon blocks: keep it off the event loop.
                await asyncio.get_running_loop().run_in_executor(None, lambda: self.restart().start())
                self.assertTrue(await c.get("claude/tokens/telegram-bot"))

        asyncio.run(scenario())


if __name__ == "__main__":
    unittest.main()
