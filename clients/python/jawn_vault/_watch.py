"""Watching for changes: ``watch`` on a connection of its own.

A watcher opens a dedicated connection (never the client's request
connection), sends one ``watch`` request, reads its answer, and from then on
reads only event lines. Answer-line parsing that accepts events
(:func:`parse_watch_line`) is used here and nowhere else.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Deque, Dict, Iterator, Optional, Union

from ._errors import DaemonUnavailable, ProtocolError, Timeout
from ._protocol import Event, LineBuffer, Response, encode_request, parse_watch_line, same_id

if TYPE_CHECKING:  # pragma: no cover
    from ._async import AsyncVaultClient
    from ._client import VaultClient

__all__ = ["Watcher", "AsyncWatcher", "Event"]

_WATCH_ID = "py-watch"


def _lost() -> DaemonUnavailable:
    return DaemonUnavailable(
        "the watch connection to the daemon was lost (daemon stopped, or the token was revoked or expired)"
    )


def _subscribed(answer: Response) -> int:
    if answer.error is not None:
        raise answer.error
    assert answer.result is not None
    version = answer.result.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError("the daemon answered watch without a version")
    return version


class Watcher:
    """Changes pushed by the daemon, as an iterator of :class:`Event`.

    Made by :meth:`VaultClient.watch`, which has already subscribed:
    :attr:`version` is the store's version at that moment. Iterate to
    receive events; each wait for the next event is bounded by ``timeout``
    (seconds; ``None`` waits forever), raising :class:`Timeout` when it runs
    out (the watcher stays usable). Use :meth:`next_event` to wait without
    an exception.

    Iteration ends after :meth:`close` (which may be called from another
    thread to stop an iteration in progress). When the daemon drops the
    connection (it stopped, or the token was revoked or expired) iteration
    raises :class:`DaemonUnavailable`; a watcher does not reconnect, since
    changes made while it was away would be missed: make a new one and
    re-read what you hold.
    """

    def __init__(self, sock: socket.socket, max_line: int, timeout: Optional[float]) -> None:
        self._sock = sock
        self._buf = LineBuffer(max_line)
        self.timeout = timeout
        self.version = 0
        self._queue: Deque[Event] = collections.deque()
        self._closed = False
        self._dead: Optional[BaseException] = None
        self._lock = threading.Lock()  # one reader at a time

    @classmethod
    def _open(cls, client: "VaultClient", params: Dict[str, Any], timeout: Optional[float]) -> "Watcher":
        from ._client import connect_error

        try:
            sock = client._factory(client.socket_path, client.timeout)
        except OSError as err:
            raise connect_error(client.socket_path, err) from None
        w = cls(sock, client._buf.max_line, timeout)
        try:
            w._subscribe(encode_request(_WATCH_ID, "watch", params, client.token), client.timeout)
        except BaseException:
            w.close()
            raise
        return w

    def _subscribe(self, line: bytes, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)
        try:
            self._sock.sendall(line)
        except socket.timeout:
            raise Timeout(f"could not send to the daemon within {timeout} s") from None
        except OSError:
            pass  # the daemon may have answered before closing: read it
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self._read(deadline, timeout)
            if item is None:
                raise _lost()
            if isinstance(item, Event):  # not expected before the answer; keep it
                self._queue.append(item)
                continue
            if item.id is None and item.error is not None:
                raise item.error
            if not same_id(item.id, _WATCH_ID):
                raise ProtocolError("the daemon answered a different request id than the one sent")
            self.version = _subscribed(item)
            return

    def _read(self, deadline: Optional[float], timeout: Optional[float]) -> Optional[Union[Event, Response]]:
        """The next line, decoded; ``None`` at end of file."""
        while True:
            line = self._buf.next_line()
            if line is not None:
                return parse_watch_line(line)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(f"no event from the daemon within {timeout} s")
                self._sock.settimeout(left)
            else:
                self._sock.settimeout(None)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise Timeout(f"no event from the daemon within {timeout} s") from None
            except OSError:
                return None
            if not data:
                return None
            self._buf.feed(data)

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Wait up to ``timeout`` seconds (``None``: forever) for the next
        event; return it, or ``None`` if none came. Raises StopIteration
        after :meth:`close`, :class:`DaemonUnavailable` when the connection
        is lost."""
        try:
            return self._next(timeout)
        except Timeout:
            return None

    def _next(self, timeout: Optional[float]) -> Event:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopIteration
            if self._dead is not None:
                raise self._dead
            deadline = None if timeout is None else time.monotonic() + timeout
            try:
                item = self._read(deadline, timeout)
            except Timeout:
                raise
            except ProtocolError as err:
                self._dead = err
                self._shutdown(held=True)
                raise
            if self._closed:
                self._shutdown(held=True)
                raise StopIteration
            if item is None:
                self._dead = _lost()
                self._shutdown(held=True)
                raise self._dead
            if isinstance(item, Response):
                if item.id is None and item.error is not None:
                    self._dead = item.error
                else:
                    self._dead = ProtocolError("the daemon sent an answer to no pending request")
                self._shutdown(held=True)
                raise self._dead
            return item

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        return self._next(self.timeout)

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop watching and close the connection; an iteration in progress
        (in another thread) ends. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self._shutdown()

    def _shutdown(self, held: bool = False) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv
        except OSError:
            pass
        if held:
            self._sock.close()
            self._buf.clear()
        elif self._lock.acquire(blocking=False):
            try:
                self._sock.close()
                self._buf.clear()
            finally:
                self._lock.release()
        # else: the reader wakes on the shutdown and closes on its way out

    def __del__(self) -> None:
        try:
            self._sock.close()
        except Exception:
            pass


class AsyncWatcher:
    """The asyncio form of :class:`Watcher`: an async iterator of
    :class:`Event`, made by :meth:`AsyncVaultClient.watch`.

    It subscribes on ``async with`` or on the first ``async for`` step
    (or ``await watcher.start()``). Iteration ends after :meth:`aclose`;
    a lost connection raises :class:`DaemonUnavailable`. ``timeout`` bounds
    each wait for an event (:class:`Timeout`), ``None`` waits forever.
    """

    def __init__(self, client: "AsyncVaultClient", params: Dict[str, Any], timeout: Optional[float]) -> None:
        self._client = client
        self._params = params
        self.timeout = timeout
        self.version = 0
        self._sock: Optional[socket.socket] = None
        self._buf = LineBuffer(client._max_line)
        self._queue: Deque[Event] = collections.deque()
        self._started = False
        self._closed = False
        self._dead: Optional[BaseException] = None
        self._start_lock: Optional[asyncio.Lock] = None
        self._reading = False

    async def start(self) -> "AsyncWatcher":
        """Open the dedicated connection and subscribe (once)."""
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._closed:
                raise RuntimeError("this watcher has been closed")
            if self._started:
                return self
            self._sock = await self._client._open()
            try:
                await self._subscribe()
            except BaseException:
                self._shutdown()
                raise
            self._started = True
        return self

    async def _subscribe(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        line = encode_request(_WATCH_ID, "watch", self._params, self._client.token)
        try:
            await loop.sock_sendall(self._sock, line)
        except OSError:
            pass
        while True:
            item = await self._read(self._client.timeout)
            if item is None:
                raise _lost()
            if isinstance(item, Event):
                self._queue.append(item)
                continue
            if item.id is None and item.error is not None:
                raise item.error
            if not same_id(item.id, _WATCH_ID):
                raise ProtocolError("the daemon answered a different request id than the one sent")
            self.version = _subscribed(item)
            return

    async def _read(self, timeout: Optional[float]) -> Optional[Union[Event, Response]]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            line = self._buf.next_line()
            if line is not None:
                return parse_watch_line(line)
            if self._sock is None:
                return None
            self._reading = True
            try:
                if deadline is None:
                    data = await loop.sock_recv(self._sock, 65536)
                else:
                    data = await asyncio.wait_for(loop.sock_recv(self._sock, 65536), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise Timeout(f"no event from the daemon within {timeout} s") from None
            except OSError:
                return None
            finally:
                self._reading = False
                if self._closed or self._dead is not None:
                    self._shutdown()
            if not data:
                return None
            self._buf.feed(data)

    def __aiter__(self) -> "AsyncWatcher":
        return self

    async def __anext__(self) -> Event:
        if not self._started and not self._closed:
            await self.start()
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            raise StopAsyncIteration
        if self._dead is not None:
            raise self._dead
        try:
            item = await self._read(self.timeout)
        except ProtocolError as err:
            self._dead = err
            self._shutdown()
            raise
        if self._closed:
            self._shutdown()
            raise StopAsyncIteration
        if item is None or isinstance(item, Response):
            if item is None:
                self._dead = _lost()
            elif item.id is None and item.error is not None:
                self._dead = item.error
            else:
                self._dead = ProtocolError("the daemon sent an answer to no pending request")
            self._shutdown()
            raise self._dead
        return item

    async def __aenter__(self) -> "AsyncWatcher":
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Stop watching and close the connection; a pending ``async for``
        step ends. Closing twice is harmless."""
        self._closed = True
        self._shutdown()

    def close(self) -> None:
        """Same as :meth:`aclose`, callable without awaiting."""
        self._closed = True
        self._shutdown()

    def _shutdown(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a pending sock_recv with end of file
        except OSError:
            pass
        # Closing while the event loop still waits on the descriptor is
        # unsafe: a read in progress closes it on its way out.
        if not self._reading:
            self._sock = None
            sock.close()
            self._buf.clear()
