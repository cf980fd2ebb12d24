"""Loading the protocol vectors shared with the Go daemon and the Node SDK."""

from __future__ import annotations

import base64
import json
import os
from typing import Any, Dict, List

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VECTOR_DIR = os.path.join(REPO_ROOT, "testdata", "protocol")

KEYS = {"name", "comment", "kind", "line", "line_b64", "repeat", "expect", "decoded", "error_code"}
EXPECT = {"request": {"ok", "error"}, "response": {"ok", "error", "invalid"}}


def load_vectors() -> List[Dict[str, Any]]:
    """Every vector file, checked for shape; ``raw`` holds the line's bytes.
    A vector with an unknown key, or missing what its kind needs, raises."""
    vectors = []
    for fname in sorted(os.listdir(VECTOR_DIR)):
        if not fname.endswith(".json"):
            continue
        with open(os.path.join(VECTOR_DIR, fname), encoding="utf-8") as f:
            v = json.load(f)
        where = f"{fname}"
        if not isinstance(v, dict):
            raise ValueError(f"{where}: not an object")
        unknown = set(v) - KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if v.get("name") != fname[: -len(".json")]:
            raise ValueError(f"{where}: name does not match the file name")
        if v.get("kind") not in EXPECT or v.get("expect") not in EXPECT[v["kind"]]:
            raise ValueError(f"{where}: bad kind/expect")
        if ("line" in v) == ("line_b64" in v):
            raise ValueError(f"{where}: needs exactly one of line and line_b64")
        raw = v["line"].encode("utf-8") if "line" in v else base64.b64decode(v["line_b64"], validate=True)
        repeat = v.get("repeat", 1)
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"{where}: bad repeat")
        v["raw"] = raw * repeat
        if v["expect"] == "ok" and "decoded" not in v:
            raise ValueError(f"{where}: ok needs decoded")
        if v["expect"] == "error" and not v.get("error_code"):
            raise ValueError(f"{where}: error needs error_code")
        if v["kind"] == "response" and v["expect"] == "error" and "decoded" not in v:
            raise ValueError(f"{where}: an error response needs decoded.id")
        vectors.append(v)
    if not vectors:
        raise ValueError(f"no vectors in {VECTOR_DIR}")
    return vectors
