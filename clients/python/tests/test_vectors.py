"""The shared protocol vectors (testdata/protocol), all in one loop."""

from __future__ import annotations

import json
import unittest

from _vectors import KEYS, load_vectors

from jawn_vault import ProtocolError, VaultError
from jawn_vault._errors import _BY_CODE
from jawn_vault._protocol import LineBuffer, encode_request, parse_response


class VectorTest(unittest.TestCase):
    def test_vectors(self) -> None:
        vectors = load_vectors()
        kinds = {(v["kind"], v["expect"]) for v in vectors}
        # Guard against a loader that silently skips whole groups.
        self.assertTrue({("request", "ok"), ("response", "ok"), ("response", "error"), ("response", "invalid")} <= kinds)
        for v in vectors:
            with self.subTest(v["name"]):
                if v["kind"] == "response":
                    self.check_response(v)
                elif v["expect"] == "ok":
                    self.check_request(v)

    def check_response(self, v: dict) -> None:
        if v["expect"] == "invalid":
            with self.assertRaises(ProtocolError):
                parse_response(v["raw"])
            return
        answer = parse_response(v["raw"])
        if v["expect"] == "ok":
            self.assertIsNone(answer.error)
            self.assertEqual({"id": answer.id, "result": answer.result}, v["decoded"])
        else:
            self.assertIsNone(answer.result)
            self.assertIsInstance(answer.error, VaultError)
            self.assertEqual(answer.error.code, v["error_code"])
            self.assertEqual(answer.id, v["decoded"]["id"])
            self.assertEqual(answer.error.request_id, v["decoded"]["id"])
            expected_class = _BY_CODE.get(v["error_code"], VaultError)
            self.assertIs(type(answer.error), expected_class)
        # The same line, framed and split across reads, decodes the same.
        buf = LineBuffer()
        for i in range(0, len(v["raw"]), 7):
            self.assertIsNone(buf.next_line())
            buf.feed(v["raw"][i : i + 7])
        self.assertIsNone(buf.next_line())
        buf.feed(b"\n")
        again = parse_response(buf.next_line() or b"")
        self.assertEqual((again.id, again.result), (answer.id, answer.result))
        self.assertEqual(again.error and again.error.code, answer.error and answer.error.code)

    def check_request(self, v: dict) -> None:
        d = v["decoded"]
        self.assertEqual(set(d), {"id", "auth", "method", "params"})
        # The vector's own line decodes to its decoded form (absent auth is
        # "", absent params is null), so the two halves agree.
        line = json.loads(v["raw"])
        self.assertEqual({"auth": "", "params": None, **line}, d)
        encoded = encode_request(d["id"], d["method"], d["params"], d["auth"])
        self.assertTrue(encoded.endswith(b"\n"))
        self.assertEqual(encoded.count(b"\n"), 1)
        self.assertEqual(json.loads(encoded), d)

    def test_loader_rejects_unknown_keys(self) -> None:
        import _vectors

        self.assertNotIn("expected", KEYS)
        saved = _vectors.KEYS
        _vectors.KEYS = saved - {"comment"}
        try:
            with self.assertRaisesRegex(ValueError, "unknown keys"):
                _vectors.load_vectors()
        finally:
            _vectors.KEYS = saved


if __name__ == "__main__":
    unittest.main()
