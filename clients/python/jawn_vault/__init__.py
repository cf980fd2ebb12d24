"""Jawn Vault client for Python: talk to the local jawn-vault daemon over its
Unix socket (protocol version 1, docs/PROTOCOL.md).

    from jawn_vault import VaultClient

    with VaultClient() as vault:
        token = vault.get("claude/tokens/telegram-bot")

Standard library only. :class:`VaultClient` blocks and may be shared by
threads; :class:`AsyncVaultClient` is its asyncio twin. Every error is a
:class:`VaultError` with a stable ``code``; the tree is drawn in
``jawn_vault._errors``.
"""

from ._async import AsyncVaultClient
from ._client import DEFAULT_TIMEOUT, SocketFactory, VaultClient, unix_socket_factory
from ._errors import (
    AuditUnavailable,
    BackendUnavailable,
    BadRequest,
    BinaryValue,
    Busy,
    DaemonUnavailable,
    InternalError,
    InvalidPath,
    LineTooLong,
    NameTaken,
    NotFound,
    PermissionDenied,
    ProtocolError,
    Timeout,
    Unauthenticated,
    UnknownMethod,
    VaultError,
)
from ._watch import AsyncWatcher, Event, Watcher
from ._protocol import PROTOCOL_VERSION, SYSTEM_SOCKET, default_socket_path, default_token

__version__ = "1.0.0"

__all__ = [
    "__version__",
    "PROTOCOL_VERSION",
    "DEFAULT_TIMEOUT",
    "VaultClient",
    "AsyncVaultClient",
    "Watcher",
    "AsyncWatcher",
    "Event",
    "SocketFactory",
    "unix_socket_factory",
    "default_socket_path",
    "default_token",
    "SYSTEM_SOCKET",
    "VaultError",
    "DaemonUnavailable",
    "Timeout",
    "ProtocolError",
    "BinaryValue",
    "BadRequest",
    "LineTooLong",
    "UnknownMethod",
    "Unauthenticated",
    "PermissionDenied",
    "InvalidPath",
    "NotFound",
    "BackendUnavailable",
    "AuditUnavailable",
    "Busy",
    "NameTaken",
    "InternalError",
]
