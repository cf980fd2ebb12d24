"""Finding, starting and stopping a real jawn-vault daemon for tests.

The binary is ``$JAWN_VAULT_BIN`` when set; otherwise it is built once per
test run with ``go build`` from the repository root into a temporary
directory. ``jawn-vault dev --json --socket PATH`` prints one JSON line when
it is ready to serve; tests wait for that line, never for a fixed time.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, Optional

from _vectors import REPO_ROOT

READY_TIMEOUT = 60.0
_built: Optional[str] = None
_build_lock = threading.Lock()


def daemon_binary() -> str:
    """The path of the jawn-vault binary under test."""
    global _built
    env = os.environ.get("JAWN_VAULT_BIN")
    if env:
        if not os.access(env, os.X_OK):
            raise RuntimeError(f"JAWN_VAULT_BIN={env} is not an executable file")
        return env
    with _build_lock:
        if _built is None:
            out_dir = tempfile.mkdtemp(prefix="vaultsdk-py-bin-")
            atexit.register(shutil.rmtree, out_dir, True)
            target = os.path.join(out_dir, "jawn-vault")
            try:
                proc = subprocess.run(
                    ["go", "build", "-o", target, "./cmd/jawn-vault"],
                    cwd=REPO_ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=600,
                )
            except FileNotFoundError:
                raise RuntimeError("go is not installed: set JAWN_VAULT_BIN to a built jawn-vault") from None
            if proc.returncode != 0:
                raise RuntimeError("go build ./cmd/jawn-vault failed:\n" + proc.stdout.decode(errors="replace"))
            _built = target
        return _built


def _clean_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("VAULT_TOKEN", "VAULT_SOCKET")}


class Daemon:
    """A ``jawn-vault dev`` process. ``start`` returns once it serves;
    ``socket`` and ``token`` (global admin) come from its ready line."""

    def __init__(self, socket_path: Optional[str] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="vaultsdk-py-")  # short: AF_UNIX paths are limited
        self.socket = socket_path or os.path.join(self.dir, "vault.sock")
        self.token = ""
        self.info: Dict[str, Any] = {}
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self._stderr_path = os.path.join(self.dir, "stderr.log")
        self._drainer: Optional[threading.Thread] = None

    def start(self) -> "Daemon":
        try:
            return self._start()
        except BaseException:
            self.cleanup()  # the error already carries the stderr tail
            raise

    def _start(self) -> "Daemon":
        binary = daemon_binary()
        stderr = open(self._stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [binary, "dev", "--json", "--socket", self.socket],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=_clean_env(),
            )
        finally:
            stderr.close()
        line = self._ready_line()
        info = json.loads(line)
        if not isinstance(info, dict) or not isinstance(info.get("token"), str) or "socket" not in info:
            raise RuntimeError(f"unexpected ready line from jawn-vault dev: {line[:200]!r}")
        if os.path.realpath(info["socket"]) != os.path.realpath(self.socket):
            raise RuntimeError(f"jawn-vault dev serves {info['socket']}, asked for {self.socket}")
        self.info = info
        self.token = info["token"]
        # Keep reading stdout so the daemon can never block on a full pipe.
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        return self

    def _ready_line(self) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + READY_TIMEOUT
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"jawn-vault dev not ready after {READY_TIMEOUT} s\n{self.stderr_tail()}")
            readable, _, _ = select.select([fd], [], [], left)
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait(5)
                raise RuntimeError(
                    f"jawn-vault dev exited ({self.proc.returncode}) before it was ready\n{self.stderr_tail()}"
                )
            buf += chunk
        return buf.split(b"\n", 1)[0]

    def _drain(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        try:
            while os.read(proc.stdout.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass

    def stderr_tail(self, n: int = 4000) -> str:
        try:
            with open(self._stderr_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # A grandchild that kept the pipe open would keep the drainer
        # reading; then leave the pipe to the garbage collector.
        if self._drainer is not None:
            self._drainer.join(2)
        if proc.stdout is not None and not (self._drainer and self._drainer.is_alive()):
            proc.stdout.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
