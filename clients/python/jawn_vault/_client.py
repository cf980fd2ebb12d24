"""The blocking client: one Unix socket connection, one request at a time
(or a pipelined batch), shared safely between threads."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ._errors import DaemonUnavailable, ProtocolError, Timeout, VaultError
from ._protocol import (
    MAX_RESPONSE_LINE,
    LineBuffer,
    Params,
    Response,
    Value,
    check_path,
    default_socket_path,
    default_token,
    encode_request,
    parse_response,
    same_id,
    set_params,
    value_bytes,
    value_text,
    watch_params,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._watch import Watcher

__all__ = ["VaultClient", "SocketFactory", "unix_socket_factory", "DEFAULT_TIMEOUT"]

#: Seconds to wait for a connection, or for the next answer of a call.
DEFAULT_TIMEOUT = 10.0

#: Signature of a socket factory: ``(socket_path, timeout) -> connected socket``.
SocketFactory = Callable[[str, Optional[float]], socket.socket]

# get_many pipelines its requests in windows so that a huge mapping cannot
# fill both socket buffers and leave client and daemon waiting on each other.
_WINDOW_REQUESTS = 64
_WINDOW_BYTES = 32 << 10

# Methods that may be sent again after a connection died mid-request: they
# change nothing, so running them twice is harmless.
IDEMPOTENT = frozenset({"get", "list", "health"})


def unix_socket_factory(path: str, timeout: Optional[float]) -> socket.socket:
    """The default socket factory: a blocking AF_UNIX stream socket connected
    to ``path``, with ``timeout`` applied to the connect."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class _ConnectionLost(Exception):
    """The connection died; ``sent`` says whether the daemon may have
    received every request of the call."""

    def __init__(self, sent: bool) -> None:
        super().__init__("connection lost")
        self.sent = sent


class VaultClient:
    """A client for the jawn-vault daemon.

    ``socket_path`` defaults to :func:`default_socket_path` (``$VAULT_SOCKET``,
    then ``$XDG_RUNTIME_DIR/jawn-vault.sock``, then the system daemon's
    socket if it exists, then ``/run/user/<uid>/jawn-vault.sock``). ``token`` defaults to
    ``$VAULT_TOKEN``, else ``$CREDENTIALS_DIRECTORY/jawn-vault-token``; ``""`` means no token (the daemon treats a peer of its
    own uid without a token as the local owner). ``timeout`` (seconds) bounds
    connecting, sending, and the wait for each answer (a long ``get_many``
    is fine while answers keep coming); ``None`` waits forever.

    Use it as a context manager, or without one: the first call connects,
    and :meth:`close` ends it. A closed client raises ``RuntimeError``. One
    client may be shared by threads: calls take turns on the connection.

    When the daemon has restarted since the last call, the client notices
    the dead connection before sending and reconnects. When a connection
    dies after a request was sent, ``get``, ``get_bytes``, ``get_many``,
    ``list`` and ``health`` are sent once more on a fresh connection;
    ``set`` and ``delete`` are not (the daemon may have carried them out),
    and raise :class:`DaemonUnavailable`.
    """

    def __init__(
        self,
        socket_path: Optional[str] = None,
        token: Optional[str] = None,
        *,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
        socket_factory: Optional[SocketFactory] = None,
        max_line: int = MAX_RESPONSE_LINE,
    ) -> None:
        self.socket_path: str = socket_path or default_socket_path()
        self.token: str = default_token() if token is None else token
        self.timeout = timeout
        self._factory: SocketFactory = socket_factory or unix_socket_factory
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._pid = 0
        self._buf = LineBuffer(max_line)
        self._next_id = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self._sock else "idle")
        return f"<VaultClient socket_path={self.socket_path!r} {state}>"

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> VaultClient:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def connect(self) -> None:
        """Connect now instead of on the first call (``with`` does this).
        Raises :class:`DaemonUnavailable` when the daemon cannot be reached."""
        with self._lock:
            self._check_open()
            self._ensure_connected()

    def close(self) -> None:
        """Close the connection. The client cannot be used afterwards;
        closing twice is harmless."""
        with self._lock:
            self._closed = True
            self._drop()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    # -- methods -----------------------------------------------------------

    def get(self, path: str) -> str:
        """Return the value at ``path`` as text.

        A value that is not valid UTF-8 (sent by the daemon as
        ``value_b64``) raises :class:`BinaryValue`: use :meth:`get_bytes`.
        """
        return value_text(self._call("get", {"path": check_path(path)}))

    def get_bytes(self, path: str) -> bytes:
        """Return the value at ``path`` as bytes, whichever form it travels in."""
        return value_bytes(self._call("get", {"path": check_path(path)}))

    def set(self, path: str, value: Value) -> None:
        """Store ``value`` at ``path``. ``str`` is stored as UTF-8; ``bytes``
        are stored exactly (sent as ``value_b64`` when not UTF-8)."""
        self._call("set", set_params(path, value))

    def delete(self, path: str) -> None:
        """Delete the entry at ``path`` (:class:`NotFound` if there is none)."""
        self._call("delete", {"path": check_path(path)})

    def list(self, prefix: Optional[str] = None) -> List[str]:
        """Return the sorted paths the token may read, under ``prefix``: a
        folder (``"claude/"``) or any leading part of a path; ``None`` or
        ``""`` for everything."""
        params: Dict[str, Any] = {}
        if prefix:
            params["prefix"] = check_path(prefix, "prefix")
        return _paths(self._call("list", params))

    def health(self) -> Dict[str, Any]:
        """Return the daemon's health: ``{"status": "ok", "protocol": 1,
        "version": ...}``. Needs no token."""
        return self._call("health", {})

    def get_many(self, mapping: Mapping[str, str]) -> Dict[str, str]:
        """Fetch many values in one round trip.

        ``mapping`` maps names (typically environment variable names) to
        vault paths; the result maps the same names to the values, as text.
        The requests are pipelined: all are sent, then all answers read (in
        windows of 64, so a huge mapping cannot deadlock the socket). If
        any fails, the first failure in ``mapping``'s order is raised, its
        message prefixed with the name, and nothing is returned.
        """
        items: Sequence[Tuple[str, str]] = [(k, check_path(p, f"path for {k}")) for k, p in mapping.items()]
        if not items:
            return {}
        answers = self._roundtrip([("get", {"path": p}) for _, p in items], idempotent=True)
        return collect_values(items, answers)

    def watch(
        self,
        paths: Optional[Sequence[str]] = None,
        prefix: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> "Watcher":
        """Subscribe to changes and return a :class:`Watcher`, an iterator
        (and context manager) of :class:`Event`.

        Watches the listed ``paths``, or every path under ``prefix``, or
        (neither) everything the token may read; events come only for paths
        the token may read. The watcher has a connection of its own, so
        this client stays free for requests (a ``get`` after an event
        reads the new value: the SDK caches nothing). ``timeout`` bounds
        each wait for an event during iteration (``None``: forever);
        connecting and the subscription's answer are bounded by the
        client's timeout.
        """
        from ._watch import Watcher

        self._check_open()
        return Watcher._open(self, watch_params(paths, prefix), timeout)

    # -- plumbing ----------------------------------------------------------

    def _call(self, method: str, params: Params) -> Dict[str, Any]:
        answer = self._roundtrip([(method, params)], idempotent=method in IDEMPOTENT)[0]
        if answer.error is not None:
            raise answer.error
        assert answer.result is not None
        return answer.result

    def _roundtrip(self, calls: Sequence[Tuple[str, Params]], idempotent: bool) -> List[Response]:
        """Send ``calls`` pipelined and return their answers, in order.

        Error answers are returned, not raised: they leave the connection
        usable. Anything raised here closes the connection first.
        """
        with self._lock:
            self._check_open()
            ids = []
            lines = []
            for method, params in calls:
                self._next_id += 1
                ids.append(f"py-{self._next_id}")
                lines.append(encode_request(ids[-1], method, params, self.token))
            for attempt in (1, 2):
                self._ensure_connected()
                try:
                    return self._exchange(ids, lines)
                except _ConnectionLost as lost:
                    self._drop()
                    if attempt == 1 and (idempotent or not lost.sent):
                        continue
                    raise lost_error(lost.sent, idempotent) from None
                except BaseException:
                    self._drop()
                    raise
            raise AssertionError("unreachable")

    def _exchange(self, ids: List[str], lines: List[bytes]) -> List[Response]:
        answers: List[Response] = []
        start = 0
        while start < len(lines):
            end, size = start, 0
            while end < len(lines) and end - start < _WINDOW_REQUESTS and (end == start or size + len(lines[end]) <= _WINDOW_BYTES):
                size += len(lines[end])
                end += 1
            # Once a window has gone out, the daemon may have acted on it.
            sent = self._send(b"".join(lines[start:end])) or start > 0
            for rid in ids[start:end]:
                answers.append(self._read_answer(rid, sent))
            start = end
        return answers

    def _send(self, data: bytes) -> bool:
        """Send ``data``; return False when the daemon had already closed
        (then the daemon has not read a whole line, but it may have answered
        before closing, so the caller still reads)."""
        sock = self._socket()
        sock.settimeout(self.timeout)
        try:
            sock.sendall(data)
        except socket.timeout:
            raise Timeout(f"could not send to the daemon within {self.timeout} s") from None
        except OSError:
            # EPIPE and friends: the newline that ends the last line was
            # not delivered, so the daemon cannot have acted on it.
            return False
        return True

    def _read_answer(self, rid: str, sent: bool) -> Response:
        """Read the next answer, which must be for ``rid``. The timeout runs
        per answer: a long pipelined batch is fine while answers keep coming."""
        sock = self._socket()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            line = self._buf.next_line()
            if line is not None:
                break
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"no answer from the daemon within {self.timeout} s")
                sock.settimeout(left)
            else:
                sock.settimeout(None)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise Timeout(f"no answer from the daemon within {self.timeout} s") from None
            except OSError:
                raise _ConnectionLost(sent) from None
            if not data:
                raise _ConnectionLost(sent)
            self._buf.feed(data)
        answer = parse_response(line)
        if answer.id is None and answer.error is not None:
            # Not tied to a request (busy, line_too_long): the daemon closes.
            raise answer.error
        if not same_id(answer.id, rid):
            raise ProtocolError("the daemon answered a different request id than the one sent")
        return answer

    def _socket(self) -> socket.socket:
        assert self._sock is not None
        return self._sock

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this VaultClient has been closed; create a new one")

    def _ensure_connected(self) -> None:
        if self._sock is not None and (self._pid != os.getpid() or self._stale()):
            self._drop()
        if self._sock is None:
            self._open()

    def _stale(self) -> bool:
        """Whether the idle connection is unusable: between calls the daemon
        sends nothing, so anything readable (end of file after a restart, an
        error, stray bytes) means the connection cannot be trusted."""
        if self._buf.pending:
            return True
        poller = select.poll()
        poller.register(self._socket(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))

    def _open(self) -> None:
        try:
            sock = self._factory(self.socket_path, self.timeout)
        except OSError as err:
            raise connect_error(self.socket_path, err) from None
        self._sock = sock
        self._pid = os.getpid()
        self._buf.clear()

    def _drop(self) -> None:
        sock, self._sock = self._sock, None
        self._buf.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def lost_error(sent: bool, idempotent: bool) -> DaemonUnavailable:
    """The error for a connection lost in the middle of a call that is not
    retried (again)."""
    if sent and not idempotent:
        return DaemonUnavailable(
            "the connection to the daemon was lost after the request was sent; "
            "it may or may not have been carried out"
        )
    return DaemonUnavailable("the connection to the daemon was lost")


def collect_values(items: Sequence[Tuple[str, str]], answers: Sequence[Response]) -> Dict[str, str]:
    """The result of get_many: names mapped to values, or the first failure
    in the mapping's order, its message prefixed with the name."""
    out: Dict[str, str] = {}
    for (name, _), answer in zip(items, answers):
        try:
            if answer.error is not None:
                raise answer.error
            assert answer.result is not None
            out[name] = value_text(answer.result)
        except VaultError as err:
            err.message = f"{name}: {err.message}"
            err.args = (err.message,)
            raise
    return out


def connect_error(path: str, err: OSError) -> VaultError:
    """The error to raise when connecting to ``path`` failed with ``err``."""
    if isinstance(err, socket.timeout):
        return Timeout(f"timed out connecting to the daemon at {path}")
    if isinstance(err, FileNotFoundError):
        return DaemonUnavailable(
            f"no daemon socket at {path}; is jawn-vault running? (VAULT_SOCKET names another socket)"
        )
    if isinstance(err, ConnectionRefusedError):
        return DaemonUnavailable(f"nothing is listening on {path}; is jawn-vault running?")
    if isinstance(err, PermissionError):
        return DaemonUnavailable(f"not allowed to connect to {path}")
    return DaemonUnavailable(f"cannot connect to the daemon at {path}: {err.strerror or err}")


def _paths(result: Mapping[str, Any]) -> List[str]:
    paths = result.get("paths")
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ProtocolError("the daemon answered list without a list of paths")
    return paths
