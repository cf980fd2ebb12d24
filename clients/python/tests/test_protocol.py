"""Unit tests of framing, strict answer decoding, values and the error map."""

from __future__ import annotations

import json
import os
import unittest
from unittest import mock

import jawn_vault
from jawn_vault import (
    BinaryValue,
    InvalidPath,
    LineTooLong,
    BadRequest,
    NotFound,
    ProtocolError,
    VaultError,
)
from jawn_vault._errors import _BY_CODE, error_from_wire
from jawn_vault._protocol import (
    LineBuffer,
    default_socket_path,
    default_token,
    encode_request,
    parse_response,
    same_id,
    set_params,
    value_bytes,
    value_text,
)

SECRET = "hunter2-SECRET-do-not-print"

WIRE_CODES = [
    "bad_request", "line_too_long", "unknown_method", "unauthenticated", "permission_denied",
    "invalid_path", "not_found", "backend_unavailable", "audit_unavailable", "busy", "internal",
    "name_taken",
]


class LineBufferTest(unittest.TestCase):
    def test_partial_line_is_never_returned(self) -> None:
        buf = LineBuffer()
        buf.feed(b'{"id":1,"result":{"value":"ab')
        self.assertIsNone(buf.next_line())
        buf.feed(b'c"}}')
        self.assertIsNone(buf.next_line())
        buf.feed(b"\n")
        self.assertEqual(buf.next_line(), b'{"id":1,"result":{"value":"abc"}}')
        self.assertIsNone(buf.next_line())

    def test_merged_lines_come_out_one_by_one(self) -> None:
        buf = LineBuffer()
        buf.feed(b'{"id":1,"result":{}}\n{"id":2,"result":{}}\n{"id":3,')
        self.assertEqual(buf.next_line(), b'{"id":1,"result":{}}')
        self.assertEqual(buf.next_line(), b'{"id":2,"result":{}}')
        self.assertIsNone(buf.next_line())
        self.assertEqual(buf.pending, len(b'{"id":3,'))

    def test_blank_lines_are_skipped(self) -> None:
        buf = LineBuffer()
        buf.feed(b'\n  \n{"id":1,"result":{}}\n')
        self.assertEqual(buf.next_line(), b'{"id":1,"result":{}}')

    def test_limit_is_enforced_before_the_newline(self) -> None:
        buf = LineBuffer(max_line=16)
        buf.feed(b"x" * 16)
        self.assertIsNone(buf.next_line())
        buf.feed(b"x")
        with self.assertRaises(ProtocolError):
            buf.next_line()

    def test_limit_counts_bytes_before_the_newline(self) -> None:
        buf = LineBuffer(max_line=4)
        buf.feed(b"abcd\nabcde\n")
        self.assertEqual(buf.next_line(), b"abcd")
        with self.assertRaises(ProtocolError):
            buf.next_line()


class ParseResponseTest(unittest.TestCase):
    def assertInvalid(self, line: bytes) -> None:
        with self.assertRaises(ProtocolError) as ctx:
            parse_response(line)
        self.assertEqual(ctx.exception.code, "protocol_error")

    def test_strictness(self) -> None:
        for line in [
            b'{"id":1,"result":{},"extra":1}',
            b'{"id":true,"result":{}}',
            b'{"id":[1],"result":{}}',
            b'{"id":1,"result":{"v":NaN}}',
            b'{"id":1,"id":2,"result":{}}',
            b'{"id":1,"error":{"code":"","message":"x"}}',
            b'{"id":1,"error":{"code":"x","message":1}}',
            b'{"id":1,"error":{"code":"x"}}',
            b'{"id":1,"error":{"code":"x","message":"m","data":1}}',
            b'{"id":1,"error":"not_found"}',
            b'{"id":1,"result":null}',
            b'{"id":1,"result":{}} {"id":2}',
            b'{"id":1,"result":{"value":"\xff"}}',
            b"[" * 100000,
        ]:
            with self.subTest(line[:40]):
                self.assertInvalid(line)

    def test_null_counts_as_absent(self) -> None:
        answer = parse_response(b'{"id":"a","result":{},"error":null}')
        self.assertEqual(answer.result, {})
        answer = parse_response(b'{"id":"a","result":null,"error":{"code":"not_found","message":"m"}}')
        self.assertIsInstance(answer.error, NotFound)

    def test_results_may_grow_fields(self) -> None:
        answer = parse_response(b'{"id":"a","result":{"status":"ok","new_field":[1]}}')
        self.assertEqual(answer.result, {"status": "ok", "new_field": [1]})

    def test_messages_never_quote_the_line(self) -> None:
        for line in [
            ('{"id":1,"result":{"value":"%s"}' % SECRET).encode(),
            ('{"id":1,"result":{"value":"%s"},"x":1}' % SECRET).encode(),
            ('not json %s' % SECRET).encode(),
        ]:
            with self.assertRaises(ProtocolError) as ctx:
                parse_response(line)
            self.assertNotIn(SECRET, str(ctx.exception))
            self.assertNotIn(SECRET, repr(ctx.exception))
            self.assertIsNone(ctx.exception.__cause__)
            self.assertTrue(ctx.exception.__context__ is None or ctx.exception.__suppress_context__)

    def test_same_id(self) -> None:
        self.assertTrue(same_id("py-1", "py-1"))
        self.assertTrue(same_id(1, 1.0))
        self.assertFalse(same_id("1", 1))
        self.assertFalse(same_id(None, None))
        self.assertFalse(same_id("py-1", "py-2"))


class EncodeRequestTest(unittest.TestCase):
    def test_one_line_with_every_field(self) -> None:
        line = encode_request("py-7", "set", {"path": "a/b", "value": "x\ny\u2028é"}, "jv_t")
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(line.count(b"\n"), 1)
        self.assertEqual(
            json.loads(line),
            {"id": "py-7", "auth": "jv_t", "method": "set", "params": {"path": "a/b", "value": "x\ny\u2028é"}},
        )

    def test_lone_surrogates_are_refused_without_quoting(self) -> None:
        with self.assertRaises(ValueError) as ctx:
            encode_request("py-1", "set", {"path": "a", "value": SECRET + "\ud800"})
        self.assertNotIn(SECRET, str(ctx.exception))
        self.assertIsNone(ctx.exception.__cause__)


class ValuesTest(unittest.TestCase):
    def test_set_params_forms(self) -> None:
        self.assertEqual(set_params("a", "text"), {"path": "a", "value": "text"})
        self.assertEqual(set_params("a", "é".encode()), {"path": "a", "value": "é"})
        self.assertEqual(set_params("a", b"\xff\x00"), {"path": "a", "value_b64": "/wA="})
        self.assertEqual(set_params("a", bytearray(b"\xef\xbb\xbfbom")), {"path": "a", "value": "\ufeffbom"})
        self.assertEqual(set_params("a", memoryview(b"m")), {"path": "a", "value": "m"})
        self.assertEqual(set_params("a", ""), {"path": "a", "value": ""})

    def test_set_params_refusals(self) -> None:
        with self.assertRaises(TypeError):
            set_params("a", 12)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            set_params(b"a", "x")  # type: ignore[arg-type]
        with self.assertRaises(InvalidPath):
            set_params("a\udc80", "x")
        with self.assertRaises(ValueError) as ctx:
            set_params("a", SECRET + "\udc80")
        self.assertNotIn(SECRET, str(ctx.exception))

    def test_value_text_and_bytes(self) -> None:
        self.assertEqual(value_text({"value": "v"}), "v")
        self.assertEqual(value_bytes({"value": "é"}), "é".encode())
        self.assertEqual(value_bytes({"value_b64": "/wA="}), b"\xff\x00")
        with self.assertRaises(BinaryValue) as ctx:
            value_text({"value_b64": "/wA="})
        self.assertEqual(ctx.exception.code, "binary_value")
        self.assertIn("get_bytes", str(ctx.exception))
        for bad in [{}, {"value": "a", "value_b64": "YQ=="}, {"value": 1}, {"value_b64": "*"}, {"value_b64": "YQ"}]:
            with self.subTest(bad):
                with self.assertRaises(ProtocolError):
                    value_bytes(bad)


class ErrorsTest(unittest.TestCase):
    def test_every_wire_code_has_a_class(self) -> None:
        self.assertEqual(set(_BY_CODE), set(WIRE_CODES))
        for code in WIRE_CODES:
            err = error_from_wire(code, "msg", "py-1")
            self.assertIsInstance(err, VaultError)
            self.assertIsNot(type(err), VaultError)
            self.assertEqual(err.code, code)
            self.assertEqual(err.request_id, "py-1")
            self.assertEqual(str(err), f"{code}: msg")

    def test_unknown_code_is_a_plain_vault_error(self) -> None:
        err = error_from_wire("future_code", "msg")
        self.assertIs(type(err), VaultError)
        self.assertEqual(err.code, "future_code")

    def test_tree(self) -> None:
        self.assertTrue(issubclass(LineTooLong, BadRequest))
        self.assertTrue(issubclass(jawn_vault.Timeout, jawn_vault.DaemonUnavailable))
        for name in jawn_vault.__all__:
            obj = getattr(jawn_vault, name)
            if isinstance(obj, type) and issubclass(obj, Exception):
                self.assertTrue(issubclass(obj, VaultError), name)
                self.assertIn(obj.__name__, jawn_vault._errors.__doc__ or "", name)

    def test_all_is_complete(self) -> None:
        for name in jawn_vault.__all__:
            self.assertTrue(hasattr(jawn_vault, name), name)


class DefaultsTest(unittest.TestCase):
    def test_socket_path(self) -> None:
        with mock.patch.dict(os.environ, {"VAULT_SOCKET": "/x/s.sock", "XDG_RUNTIME_DIR": "/r"}):
            self.assertEqual(default_socket_path(), "/x/s.sock")
        with mock.patch.dict(os.environ, {"VAULT_SOCKET": "", "XDG_RUNTIME_DIR": "/r"}):
            self.assertEqual(default_socket_path(), "/r/jawn-vault.sock")
        env = {k: v for k, v in os.environ.items() if k not in ("VAULT_SOCKET", "XDG_RUNTIME_DIR")}
        with mock.patch.dict(os.environ, env, clear=True):
            with mock.patch("os.path.exists", lambda p: False):
                self.assertEqual(default_socket_path(), f"/run/user/{os.getuid()}/jawn-vault.sock")
            with mock.patch("os.path.exists", lambda p: p == "/run/jawn-vault/jawn-vault.sock"):
                self.assertEqual(default_socket_path(), "/run/jawn-vault/jawn-vault.sock")

    def test_token_from_systemd_credential(self) -> None:
        import tempfile

        with tempfile.TemporaryDirectory() as creds:
            with open(os.path.join(creds, "jawn-vault-token"), "w", encoding="utf-8") as f:
                f.write("jv_from_credential\n")
            with mock.patch.dict(os.environ, {"VAULT_TOKEN": "", "CREDENTIALS_DIRECTORY": creds}):
                self.assertEqual(default_token(), "jv_from_credential")
            with mock.patch.dict(os.environ, {"VAULT_TOKEN": "jv_env", "CREDENTIALS_DIRECTORY": creds}):
                self.assertEqual(default_token(), "jv_env")
        with mock.patch.dict(os.environ, {"VAULT_TOKEN": "", "CREDENTIALS_DIRECTORY": "/nonexistent"}):
            self.assertEqual(default_token(), "")

    def test_client_reads_environment(self) -> None:
        with mock.patch.dict(os.environ, {"VAULT_SOCKET": "/x/s.sock", "VAULT_TOKEN": "jv_env"}):
            c = jawn_vault.VaultClient()
            self.assertEqual((c.socket_path, c.token), ("/x/s.sock", "jv_env"))
            c = jawn_vault.VaultClient("/y.sock", "jv_arg")
            self.assertEqual((c.socket_path, c.token), ("/y.sock", "jv_arg"))
            # An explicit "" means no token, even when VAULT_TOKEN is set.
            self.assertEqual(jawn_vault.VaultClient(token="").token, "")
            self.assertNotIn("jv_env", repr(jawn_vault.VaultClient()))
            a = jawn_vault.AsyncVaultClient()
            self.assertEqual((a.socket_path, a.token), ("/x/s.sock", "jv_env"))


if __name__ == "__main__":
    unittest.main()
