"""The asyncio client: one connection shared by concurrent calls.

Requests are written as they are made; a reader task matches each answer to
the oldest pending request (the daemon answers in order) and checks that
the ids agree.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from ._client import DEFAULT_TIMEOUT, IDEMPOTENT, SocketFactory, _paths, collect_values, connect_error, lost_error
from ._errors import ProtocolError, Timeout, VaultError
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
from ._watch import AsyncWatcher

__all__ = ["AsyncVaultClient"]


class _ConnectionLost(Exception):
    """The connection died with this request pending; ``sent`` says whether
    the daemon may have received it."""

    def __init__(self, sent: bool = True) -> None:
        super().__init__("connection lost")
        self.sent = sent


class _Pending:
    __slots__ = ("id", "future", "sent")

    def __init__(self, rid: str, future: "asyncio.Future[Response]") -> None:
        self.id = rid
        self.future = future
        self.sent = False


class _Connection:
    """One non-blocking socket, a FIFO of pending requests and the task that
    reads.

    Plain socket calls (``loop.sock_recv`` / ``sock_sendall``) rather than
    streams: when a send fails because the daemon already closed, an answer
    it wrote before closing (``busy``, ``line_too_long``) is still read.
    """

    def __init__(self, sock: socket.socket, max_line: int, timeout: Optional[float]) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.pending: Deque[_Pending] = deque()
        self.dead = False
        self.timeout = timeout
        self._timer: Optional[asyncio.TimerHandle] = None
        self._write_lock = asyncio.Lock()
        self._sending = False
        self._reading = True
        self._closed = False
        self._buf = LineBuffer(max_line)
        self._task = asyncio.ensure_future(self._read_loop())

    def usable(self) -> bool:
        if self.dead:
            return False
        if self.pending:
            return True
        # Idle: the daemon sends nothing between answers, so anything
        # readable (end of file after a restart, stray bytes) is fatal.
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)

    async def send(self, ids: Sequence[str], lines: Sequence[bytes]) -> List["asyncio.Future[Response]"]:
        """Queue one pending entry per id and write the lines. Writes are
        serialised so that pipelined lines never interleave and the FIFO
        order is the order on the wire."""
        entries = [_Pending(rid, self.loop.create_future()) for rid in ids]
        async with self._write_lock:
            if self.dead:
                raise _ConnectionLost(sent=False)
            self.pending.extend(entries)
            if self._timer is None:
                self._arm()
            self._sending = True
            try:
                await self.loop.sock_sendall(self.sock, b"".join(lines))
            except OSError:
                # The newline of the last line never left: the daemon has
                # not acted on it. The reader reports the loss (after any
                # answer the daemon wrote before closing).
                pass
            else:
                for e in entries:
                    e.sent = True
            finally:
                self._sending = False
                self._close_when_idle()
        return [e.future for e in entries]

    # The timeout watches progress, not single calls: while requests are
    # pending, the next answer must come within `timeout`. Answers come in
    # order, so a call queued behind many others is not timed out while
    # the daemon keeps answering, and a stalled daemon fails them all.
    def _arm(self) -> None:
        if self.timeout is not None:
            self._timer = self.loop.call_later(self.timeout, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.pending and not self.dead:
            message = f"no answer from the daemon within {self.timeout} s"
            self.fail(lambda p: Timeout(message))

    async def _read_loop(self) -> None:
        try:
            await self._read_answers()
        except asyncio.CancelledError:
            self.fail(lambda p: _ConnectionLost(p.sent))
            raise
        finally:
            self._reading = False
            self._close_when_idle()

    async def _read_answers(self) -> None:
        try:
            while True:
                try:
                    data = await self.loop.sock_recv(self.sock, 65536)
                except OSError:
                    data = b""
                if not data:
                    self.fail(lambda p: _ConnectionLost(p.sent))
                    return
                self._buf.feed(data)
                while True:
                    line = self._buf.next_line()
                    if line is None:
                        break
                    self._deliver(parse_response(line))
        except ProtocolError as err:
            message = err.message
            self.fail(lambda p: ProtocolError(message))
        except VaultError as err:
            # An answer tied to no request (busy, line_too_long) goes to the
            # oldest caller; the daemon is closing the connection.
            if self.pending:
                head = self.pending.popleft()
                if not head.future.done():
                    head.future.set_exception(err)
            self.fail(lambda p: _ConnectionLost(p.sent))

    def _deliver(self, answer: Response) -> None:
        if answer.id is None and answer.error is not None:
            raise answer.error
        if not self.pending:
            raise ProtocolError("the daemon sent an answer to no pending request")
        head = self.pending[0]
        if not same_id(answer.id, head.id):
            raise ProtocolError("the daemon answered a different request id than the one sent")
        self.pending.popleft()
        if not head.future.done():  # a cancelled caller's answer is dropped
            head.future.set_result(answer)
        self._disarm()
        if self.pending:
            self._arm()

    def fail(self, make_error: Callable[[_Pending], BaseException]) -> None:
        """Mark the connection dead and fail every pending call.

        The socket is shut down at once, which wakes the reader (end of
        file) and any send in progress (EPIPE); it is closed only when both
        are done, so its descriptor is never reused while the event loop
        still watches it.
        """
        if self.dead:
            return
        self.dead = True
        self._disarm()
        while self.pending:
            p = self.pending.popleft()
            if not p.future.done():
                p.future.set_exception(make_error(p))
        self._buf.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._close_when_idle()

    def _close_when_idle(self) -> None:
        if self.dead and not self._reading and not self._sending and not self._closed:
            self._closed = True
            self.sock.close()

    async def close(self) -> None:
        self.fail(lambda p: _ConnectionLost(p.sent))
        try:
            await self._task
        except (asyncio.CancelledError, Exception):
            pass


class AsyncVaultClient:
    """The asyncio form of :class:`VaultClient`, with the same defaults,
    methods (as coroutines) and errors.

    Concurrent calls share one connection: each request is written at once
    and its answer matched by id, so ``asyncio.gather`` of many gets makes
    one round trip. ``timeout`` watches progress: while calls are pending,
    the daemon's next answer must come within it, and if none does every
    pending call fails with :class:`Timeout` and the connection is dropped. Use ``async with``, or call methods directly (the first
    call connects) and ``await client.aclose()`` at the end. A client
    belongs to the event loop it was first used in.
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
        self._factory = socket_factory
        self._max_line = max_line
        self._conn: Optional[_Connection] = None
        # Created on first use: on Python 3.9 a Lock binds to the loop
        # current at creation, which may not be the one that runs us.
        self._lock: Optional[asyncio.Lock] = None
        self._next_id = 0
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("connected" if self._conn else "idle")
        return f"<AsyncVaultClient socket_path={self.socket_path!r} {state}>"

    async def __aenter__(self) -> AsyncVaultClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def connect(self) -> None:
        """Connect now instead of on the first call (``async with`` does this)."""
        await self._connection()

    async def aclose(self) -> None:
        """Close the connection; pending calls fail. The client cannot be
        used afterwards; closing twice is harmless."""
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    async def get(self, path: str) -> str:
        """Return the value at ``path`` as text (:class:`BinaryValue` if it is not UTF-8)."""
        return value_text(await self._call("get", {"path": check_path(path)}))

    async def get_bytes(self, path: str) -> bytes:
        """Return the value at ``path`` as bytes."""
        return value_bytes(await self._call("get", {"path": check_path(path)}))

    async def set(self, path: str, value: Value) -> None:
        """Store ``value`` (str or bytes) at ``path``."""
        await self._call("set", set_params(path, value))

    async def delete(self, path: str) -> None:
        """Delete the entry at ``path``."""
        await self._call("delete", {"path": check_path(path)})

    async def list(self, prefix: Optional[str] = None) -> List[str]:
        """Return the sorted paths the token may read under ``prefix``."""
        params: Dict[str, Any] = {}
        if prefix:
            params["prefix"] = check_path(prefix, "prefix")
        return _paths(await self._call("list", params))

    async def health(self) -> Dict[str, Any]:
        """Return the daemon's health result."""
        return await self._call("health", {})

    async def get_many(self, mapping: Mapping[str, str]) -> Dict[str, str]:
        """Fetch many values in one round trip; see :meth:`VaultClient.get_many`."""
        items = [(k, check_path(p, f"path for {k}")) for k, p in mapping.items()]
        if not items:
            return {}
        answers = await self._roundtrip([("get", {"path": p}) for _, p in items], idempotent=True)
        return collect_values(items, answers)

    def watch(
        self,
        paths: Optional[Sequence[str]] = None,
        prefix: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> AsyncWatcher:
        """Return an :class:`AsyncWatcher`, an async iterator of
        :class:`Event` on a connection of its own::

            async for event in client.watch(paths=["claude/tokens/slack-bot"]):
                ...

        It subscribes on the first step (or ``async with``, or ``await
        watcher.start()``). Arguments as :meth:`VaultClient.watch`.
        """
        self._check_open()
        return AsyncWatcher(self, watch_params(paths, prefix), timeout)

    async def _call(self, method: str, params: Params) -> Dict[str, Any]:
        answer = (await self._roundtrip([(method, params)], idempotent=method in IDEMPOTENT))[0]
        if answer.error is not None:
            raise answer.error
        assert answer.result is not None
        return answer.result

    async def _roundtrip(self, calls: Sequence[Tuple[str, Params]], idempotent: bool) -> List[Response]:
        self._check_open()
        ids: List[str] = []
        lines: List[bytes] = []
        for method, params in calls:
            self._next_id += 1
            ids.append(f"py-{self._next_id}")
            lines.append(encode_request(ids[-1], method, params, self.token))
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                return await self._exchange(conn, ids, lines)
            except _ConnectionLost as lost:
                if attempt == 1 and (idempotent or not lost.sent):
                    continue
                raise lost_error(lost.sent, idempotent) from None
        raise AssertionError("unreachable")

    async def _exchange(self, conn: _Connection, ids: Sequence[str], lines: Sequence[bytes]) -> List[Response]:
        futures = await conn.send(ids, lines)
        # return_exceptions: every failure is retrieved, the first raised.
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        answers: List[Response] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            answers.append(outcome)
        return answers

    async def _connection(self) -> _Connection:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self._check_open()
            conn = self._conn
            if conn is not None and conn.usable():
                return conn
            if conn is not None:
                await conn.close()
            self._conn = None
            self._conn = _Connection(await self._open(), self._max_line, self.timeout)
            return self._conn

    async def _open(self) -> socket.socket:
        path = self.socket_path
        if self._factory is not None:
            try:
                sock = self._factory(path, self.timeout)
            except OSError as err:
                raise connect_error(path, err) from None
            sock.setblocking(False)
            return sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, path), self.timeout)
        except asyncio.TimeoutError:
            sock.close()
            raise Timeout(f"timed out connecting to the daemon at {path}") from None
        except OSError as err:
            sock.close()
            raise connect_error(path, err) from None
        except BaseException:
            sock.close()
            raise
        return sock

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this AsyncVaultClient has been closed; create a new one")
