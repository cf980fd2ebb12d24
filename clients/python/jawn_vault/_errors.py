"""The exceptions raised by the Jawn Vault client.

Every exception the client raises on purpose is a :class:`VaultError`, and
every one carries a stable ``code``: the daemon's wire code for errors the
daemon answered with (docs/PROTOCOL.md, "Error codes"), or one of the
client-side codes below for problems the client found itself. Programs
branch on the class or on ``code``, never on the message; messages are for
people and never contain a secret value or a token.

The tree::

    VaultError                      any error from this package (.code, .message, .request_id)
    ├── DaemonUnavailable           daemon_unavailable: cannot connect, or the connection was lost
    │   └── Timeout                 timeout: no answer within the client's timeout
    ├── ProtocolError               protocol_error: the daemon sent a line that is not a valid answer
    ├── BinaryValue                 binary_value: get() found a value that is not UTF-8 text
    ├── BadRequest                  bad_request: the daemon could not decode the request
    │   └── LineTooLong             line_too_long: the request line passed the daemon's limit
    ├── UnknownMethod               unknown_method: the daemon has no such method
    ├── Unauthenticated             unauthenticated: no token, or an unknown/expired/revoked one
    ├── PermissionDenied            permission_denied: the token's grants do not allow this
    ├── InvalidPath                 invalid_path: the path breaks the path rules
    ├── NotFound                    not_found: no such entry (or token)
    ├── BackendUnavailable          backend_unavailable: the store could not be read or written
    ├── AuditUnavailable            audit_unavailable: the audit log is down, so nothing is served
    ├── Busy                        busy: the daemon's connection limit is reached
    ├── NameTaken                   name_taken: token.create with the name of a live token
    └── InternalError               internal: a bug in the daemon

A code this version of the client does not know (the protocol may add codes)
is raised as a plain :class:`VaultError` whose ``code`` is that code; treat it
like ``internal``.

Arguments of the wrong type are programming errors and raise the built-in
``TypeError`` / ``ValueError``, not a VaultError.
"""

from __future__ import annotations

from typing import Dict, Optional, Type, Union

__all__ = [
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
    "error_from_wire",
]

RequestID = Union[str, int, float, None]


class VaultError(Exception):
    """Base class of every error this package raises on purpose.

    ``code`` is a stable snake_case string; ``message`` is for people;
    ``request_id`` is the id of the request the daemon answered, when there
    was one.
    """

    code: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        request_id: RequestID = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class DaemonUnavailable(VaultError):
    """Raised when the client cannot connect to the daemon (no socket, refused,
    not allowed), or when the connection is lost before the answer arrives
    and the request cannot safely be sent again."""

    code = "daemon_unavailable"


class Timeout(DaemonUnavailable):
    """Raised when connecting, or waiting for the daemon's next answer, takes
    longer than the client's ``timeout``. The connection is closed; the
    request may or may not have been carried out."""

    code = "timeout"


class ProtocolError(VaultError):
    """Raised when the daemon sends a line that is not a valid answer: not
    JSON, the wrong shape, too long, or answering another request's id. The
    connection is closed and never reused."""

    code = "protocol_error"


class BinaryValue(VaultError):
    """Raised by ``get`` when the value is not valid UTF-8 (the daemon sent it
    as ``value_b64``). Use ``get_bytes`` for such values."""

    code = "binary_value"


class BadRequest(VaultError):
    """The daemon could not decode the request (``bad_request``): a bug in the
    client or a parameter of the wrong shape."""

    code = "bad_request"


class LineTooLong(BadRequest):
    """The request line passed the daemon's limit (``line_too_long``, 64 KiB by
    default); the daemon closed the connection. Send a smaller value."""

    code = "line_too_long"


class UnknownMethod(VaultError):
    """The daemon has no such method (``unknown_method``): it is older than
    this client."""

    code = "unknown_method"


class Unauthenticated(VaultError):
    """No token, or a token the daemon does not accept: unknown, expired,
    revoked, or bound to another uid (``unauthenticated``)."""

    code = "unauthenticated"


class PermissionDenied(VaultError):
    """The token's grants do not allow this method on this path
    (``permission_denied``), whether or not the entry exists."""

    code = "permission_denied"


class InvalidPath(VaultError):
    """The path breaks the path rules (``invalid_path``): empty segments,
    ``.``/``..``, a leading ``/`` or ``-``, control characters, ..."""

    code = "invalid_path"


class NotFound(VaultError):
    """No entry (or token) by that name (``not_found``)."""

    code = "not_found"


class BackendUnavailable(VaultError):
    """The store could not be read or written: gpg, agent or disk trouble
    (``backend_unavailable``). Retry later; the daemon log has details."""

    code = "backend_unavailable"


class AuditUnavailable(VaultError):
    """The daemon cannot write its audit log, so it serves no secrets
    (``audit_unavailable``)."""

    code = "audit_unavailable"


class Busy(VaultError):
    """The daemon's connection limit is reached (``busy``). Retry with
    backoff."""

    code = "busy"


class NameTaken(VaultError):
    """A live (unrevoked) token already has the name given to
    ``token.create`` (``name_taken``). The request was well formed, so this
    is not a :class:`BadRequest`: pick another name, or revoke that token
    first; a revoked token's name is free again."""

    code = "name_taken"


class InternalError(VaultError):
    """A bug in the daemon (``internal``); report it with the daemon log."""

    code = "internal"


_BY_CODE: Dict[str, Type[VaultError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        LineTooLong,
        UnknownMethod,
        Unauthenticated,
        PermissionDenied,
        InvalidPath,
        NotFound,
        BackendUnavailable,
        AuditUnavailable,
        Busy,
        NameTaken,
        InternalError,
    )
}


def error_from_wire(code: str, message: str, request_id: RequestID = None) -> VaultError:
    """Return the exception for an error answer: the class mapped from
    ``code``, or a plain :class:`VaultError` carrying ``code`` when the code
    is one this client does not know."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return VaultError(message, code=code, request_id=request_id)
    return cls(message, request_id=request_id)
