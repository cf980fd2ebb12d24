"""Protocol version 1 on the client side: encoding requests, framing and
strictly decoding answers, and the two forms of values.

Nothing here does I/O: the sync and async clients feed bytes in and take
lines out. The normative description is docs/PROTOCOL.md; the shared
vectors in testdata/protocol exercise :func:`encode_request` and
:func:`parse_response`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ._errors import (
    BinaryValue,
    InvalidPath,
    ProtocolError,
    RequestID,
    VaultError,
    error_from_wire,
)

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_RESPONSE_LINE",
    "SYSTEM_SOCKET",
    "Response",
    "Event",
    "watch_params",
    "parse_watch_line",
    "LineBuffer",
    "encode_request",
    "parse_response",
    "same_id",
    "default_socket_path",
    "check_path",
    "set_params",
    "value_bytes",
    "value_text",
]

#: The protocol version this client speaks (reported by ``health``).
PROTOCOL_VERSION = 1

#: The longest answer line the client accepts by default (as the Go client).
#: The daemon bounds request lines at 64 KiB, but a stored value (up to
#: 1 MiB, more in base64) and a long ``list`` can be bigger; the client still
#: stops at a limit instead of buffering whatever a broken peer sends.
MAX_RESPONSE_LINE = 4 << 20

#: The system daemon's socket (deploy/jawn-vault.socket), used when there is
#: no ``$XDG_RUNTIME_DIR`` (a system service) and the socket exists.
SYSTEM_SOCKET = "/run/jawn-vault/jawn-vault.sock"

Value = Union[str, bytes, bytearray, memoryview]
Params = Optional[Dict[str, Any]]


class Response(NamedTuple):
    """One decoded answer line: ``id`` and exactly one of ``result`` (a dict)
    and ``error`` (an exception ready to raise)."""

    id: RequestID
    result: Optional[Dict[str, Any]]
    error: Optional[VaultError]


def default_socket_path() -> str:
    """The daemon's socket, by the same rule as the Go client:
    ``$VAULT_SOCKET``, else ``$XDG_RUNTIME_DIR/jawn-vault.sock``, else
    :data:`SYSTEM_SOCKET` if it exists (a system service has no
    ``$XDG_RUNTIME_DIR``), else ``/run/user/<uid>/jawn-vault.sock``."""
    explicit = os.environ.get("VAULT_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "jawn-vault.sock")
    if os.path.exists(SYSTEM_SOCKET):
        return SYSTEM_SOCKET
    return f"/run/user/{os.getuid()}/jawn-vault.sock"


def default_token() -> str:
    """The token, by the same rule as vault-exec: ``$VAULT_TOKEN``, else the
    file ``$CREDENTIALS_DIRECTORY/jawn-vault-token`` (systemd's
    ``LoadCredential=jawn-vault-token:...``), else ``""`` (no token)."""
    token = os.environ.get("VAULT_TOKEN")
    if token:
        return token
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds:
        try:
            with open(os.path.join(creds, "jawn-vault-token"), encoding="utf-8") as f:
                return f.read().strip()
        except OSError:
            pass
    return ""


def encode_request(request_id: RequestID, method: str, params: Params = None, auth: str = "") -> bytes:
    """Encode one request line, newline included.

    All four fields are always present (``auth`` may be ``""``, ``params``
    may be ``None``), so a decoded request compares equal to what was
    encoded. Raises ``ValueError`` for text that is not valid Unicode (a str
    with lone surrogates), which JSON could only carry as a lossy escape.
    """
    obj = {"id": request_id, "auth": auth, "method": method, "params": params}
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        # The original exception holds the whole string: do not chain it.
        raise ValueError(
            "request contains a str that is not valid Unicode (a lone surrogate); pass bytes instead"
        ) from None
    return data + b"\n"


def _refuse_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _unique_pairs(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _is_id(value: Any) -> bool:
    return value is None or isinstance(value, str) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def parse_response(line: bytes) -> Response:
    """Decode one answer line (without its newline) strictly.

    A valid answer is a JSON object with ``id`` (string, number or null) and
    exactly one of ``result`` (an object) or ``error`` (an object with a
    non-empty string ``code`` and a string ``message``); no other top-level
    keys. ``null`` counts as absent, as in the Go decoder. Anything else
    raises :class:`ProtocolError`, whose message never quotes the line (it
    may carry a secret).
    """
    try:
        text = bytes(line).decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("the daemon sent a line that is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("the daemon sent an answer that is not a JSON object")
    extra = set(obj) - {"id", "result", "error"}
    if extra:
        raise ProtocolError("the daemon sent an answer with unknown fields")
    if "id" not in obj or not _is_id(obj["id"]):
        raise ProtocolError("the daemon sent an answer without a valid id")
    rid = obj["id"]
    result = obj.get("result")
    error = obj.get("error")
    if result is not None and error is None:
        if not isinstance(result, dict):
            raise ProtocolError("the daemon sent a result that is not an object")
        return Response(rid, result, None)
    if result is None and error is not None:
        if (
            not isinstance(error, dict)
            or set(error) - {"code", "message"}
            or not isinstance(error.get("code"), str)
            or not error["code"]
            or not isinstance(error.get("message"), str)
        ):
            raise ProtocolError("the daemon sent a malformed error")
        return Response(rid, None, error_from_wire(error["code"], error["message"], rid))
    raise ProtocolError("the daemon sent an answer without exactly one of result and error")


def same_id(a: RequestID, b: RequestID) -> bool:
    """Whether two decoded ids are the same JSON value (``1 == 1.0``, but a
    string never equals a number and ``True`` is not an id)."""
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b and a is not None and b is not None


class LineBuffer:
    """Splits a byte stream into answer lines.

    ``feed`` bytes as they arrive; ``next_line`` returns the next complete
    line (without its newline) or ``None`` if only part of one has arrived.
    A line is never returned before its newline arrives, and two answers
    that arrive in one read come out as two lines. Blank lines are skipped.
    Buffering stops at ``max_line``: a longer line raises ProtocolError.
    """

    def __init__(self, max_line: int = MAX_RESPONSE_LINE) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already known to hold no newline

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> Optional[bytes]:
        while True:
            i = self._buf.find(b"\n", self._scanned)
            if i < 0:
                self._scanned = len(self._buf)
                if self._scanned > self.max_line:
                    raise ProtocolError(f"the daemon sent a line longer than {self.max_line} bytes")
                return None
            if i > self.max_line:
                raise ProtocolError(f"the daemon sent a line longer than {self.max_line} bytes")
            line = bytes(self._buf[:i])
            del self._buf[: i + 1]
            self._scanned = 0
            if line.strip():
                return line

    @property
    def pending(self) -> int:
        """Bytes received but not yet returned as a line."""
        return len(self._buf)

    def clear(self) -> None:
        # Overwrite first: the buffer may have held a value.
        self._buf[:] = bytes(len(self._buf))
        self._buf.clear()
        self._scanned = 0


def check_path(path: str, what: str = "path") -> str:
    """Refuse what can never be a path before it is sent: non-str (TypeError)
    and text that is not valid Unicode (InvalidPath, as the daemon would).
    Every other rule is the daemon's to decide."""
    if not isinstance(path, str):
        raise TypeError(f"{what} must be a str, not {type(path).__name__}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath(f"{what} is not valid Unicode (lone surrogate)") from None
    return path


def set_params(path: str, value: Value) -> Dict[str, Any]:
    """The params of ``set``: ``value`` for text and for bytes that are valid
    UTF-8, ``value_b64`` for any other bytes. Nothing is converted: the
    daemon stores exactly the bytes given (``str`` as UTF-8)."""
    check_path(path)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("value is a str that is not valid Unicode (lone surrogate); pass bytes") from None
        return {"path": path, "value": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return {"path": path, "value": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"path": path, "value_b64": base64.b64encode(raw).decode("ascii")}
    raise TypeError(f"value must be str or bytes, not {type(value).__name__}")


def _value_field(result: Mapping[str, Any]) -> Tuple[str, str]:
    has_text = "value" in result
    has_b64 = "value_b64" in result
    if has_text == has_b64:
        raise ProtocolError("the daemon answered get without exactly one of value and value_b64")
    key = "value" if has_text else "value_b64"
    if not isinstance(result[key], str):
        raise ProtocolError(f"the daemon sent a {key} that is not a string")
    return key, result[key]


def value_bytes(result: Mapping[str, Any]) -> bytes:
    """The bytes of a ``get`` result, whichever form it came in."""
    key, raw = _value_field(result)
    if key == "value":
        try:
            return raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError("the daemon sent a value that is not valid Unicode") from None
    try:
        return base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProtocolError("the daemon sent a value_b64 that is not valid base64") from None


def value_text(result: Mapping[str, Any]) -> str:
    """The text of a ``get`` result. A ``value_b64`` result is not UTF-8 by
    definition, so it raises :class:`BinaryValue` instead of guessing."""
    key, raw = _value_field(result)
    if key != "value":
        raise BinaryValue("the value is not UTF-8 text (the daemon sent value_b64); use get_bytes()")
    value_bytes(result)  # refuses lone surrogates, which no daemon sends
    return raw


class Event(NamedTuple):
    """One event pushed on a watching connection.

    ``kind`` is ``"changed"`` (the entry at ``path`` was written or deleted)
    or ``"stale"`` (the store changed in a way that names no entry, or the
    watcher fell behind: re-read everything you hold; ``path`` is ``None``).
    ``version`` increases with every change. Events never carry values.
    """

    kind: str
    path: Optional[str]
    version: int


def watch_params(paths: Optional[Sequence[str]] = None, prefix: Optional[str] = None) -> Dict[str, Any]:
    """The params of ``watch``: the listed ``paths``, or everything under
    ``prefix``, or (neither) everything the token may read."""
    if paths is not None and prefix is not None:
        raise ValueError("watch takes paths or prefix, not both")
    if paths is not None:
        if isinstance(paths, (str, bytes)):
            raise TypeError("paths must be a list of str, not a single string")
        checked = [check_path(p) for p in paths]
        if not checked:
            raise ValueError("paths is empty; pass None to watch everything")
        return {"paths": checked}
    if prefix:
        return {"prefix": check_path(prefix, "prefix")}
    return {}


def parse_watch_line(line: bytes) -> Union[Event, Response]:
    """Decode one line read on a *watching* connection: an event (a JSON
    object with ``event`` and no ``id``) or an ordinary answer (as
    :func:`parse_response`). Only watch connections accept events; the
    request connection still refuses a line without an id.

    An event must have a string ``event``, a non-negative integer
    ``version`` and, for ``changed``, a string ``path``. Unknown fields are
    ignored, and an unknown kind is passed through (a newer daemon may add
    kinds), so callers should ignore kinds they do not know.
    """
    try:
        text = bytes(line).decode("utf-8")
        obj = json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ProtocolError("the daemon sent a line that is not valid JSON") from None
    if not isinstance(obj, dict) or "event" not in obj:
        return parse_response(line)
    if "id" in obj:
        raise ProtocolError("the daemon sent an event that carries an id")
    kind = obj["event"]
    version = obj.get("version")
    path = obj.get("path")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("the daemon sent an event without a kind")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ProtocolError("the daemon sent an event without a valid version")
    if path is not None and not isinstance(path, str):
        raise ProtocolError("the daemon sent an event whose path is not a string")
    if kind == "changed" and path is None:
        raise ProtocolError("the daemon sent a changed event without a path")
    return Event(kind, path if kind != "stale" else None, version)
