"""The roadmap's Python sketch must keep working unchanged against the real
daemon, and jawn_vault.VaultClient must accept the same calls."""

from __future__ import annotations

import os
import unittest
import uuid
from typing import Any
from unittest import mock

import roadmap_sketch
from _daemon import Daemon

import jawn_vault

daemon: Daemon


def setUpModule() -> None:
    global daemon
    daemon = Daemon().start()


def tearDownModule() -> None:
    daemon.cleanup()


class SketchScenario:
    """The same calls, run on the sketch and on the SDK."""

    module: Any

    def test_get_set_list(self: Any) -> None:
        mod = self.module
        path = f"test/roadmap/{uuid.uuid4().hex}"
        with mod.VaultClient(daemon.socket, daemon.token) as vault:
            value = vault.get("claude/api/anthropic")
            self.assertIsInstance(value, str)
            self.assertTrue(value)
            self.assertIsNone(vault.set(path, "line one\nline two é"))
            self.assertEqual(vault.get(path), "line one\nline two é")
            everything = vault.list()
            self.assertIn(path, everything)
            self.assertIn("claude/api/anthropic", everything)
            self.assertEqual(everything, sorted(everything))
            under = vault.list("claude/")
            self.assertIn("claude/tokens/telegram-bot", under)
            self.assertTrue(all(p.startswith("claude/") for p in under))
            self.assertNotIn(path, under)
            with self.assertRaises(mod.VaultError):
                vault.get("test/roadmap/does-not-exist")
            # The connection is still usable after an error answer.
            self.assertEqual(vault.get(path), "line one\nline two é")

    def test_migration_example_with_environment(self: Any) -> None:
        mod = self.module
        env = {"VAULT_SOCKET": daemon.socket, "VAULT_TOKEN": daemon.token}
        with mock.patch.dict(os.environ, env):
            with mod.VaultClient() as vault:
                token = vault.get("claude/tokens/telegram-bot")
        self.assertIsInstance(token, str)
        self.assertTrue(token)

    def test_bad_token_is_an_error(self: Any) -> None:
        mod = self.module
        with mod.VaultClient(daemon.socket, "jv_" + "A" * 43) as vault:
            with self.assertRaises(mod.VaultError):
                vault.get("claude/api/anthropic")


class RoadmapSketchTest(SketchScenario, unittest.TestCase):
    module = roadmap_sketch


class SDKAcceptsSketchCallsTest(SketchScenario, unittest.TestCase):
    module = jawn_vault

    def test_same_values_as_the_sketch(self) -> None:
        with roadmap_sketch.VaultClient(daemon.socket, daemon.token) as old:
            with jawn_vault.VaultClient(daemon.socket, daemon.token) as new:
                for path in ("claude/api/anthropic", "claude/tokens/telegram-bot"):
                    self.assertEqual(new.get(path), old.get(path))
                self.assertEqual(new.list(), old.list())


if __name__ == "__main__":
    unittest.main()
