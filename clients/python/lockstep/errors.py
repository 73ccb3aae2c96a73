"""The errors that end a participant's session; all are :class:`LockstepError`.

Each says where the session was (``before the first step``, ``during step 3``, ...) where
that helps, and carries the conductor's words where it sent any.
"""

from __future__ import annotations

from typing import Optional

from ._wire import show_byte

__all__ = [
    "LockstepError", "InvalidId", "ConnectError", "VersionMismatch", "HelloTimeout",
    "Refused", "ConductorFailed", "ConnectionLost", "ConductorGone", "ProtocolError",
    "OutOfTurn", "TlsError", "NotTls",
]


class LockstepError(Exception):
    """Anything that ends a participant's session."""


class InvalidId(LockstepError, ValueError):
    """The id is not 1 to 12 printable ASCII characters, or only spaces."""


class ConnectError(LockstepError):
    """No TCP connection could be made to the conductor."""


class VersionMismatch(LockstepError):
    """The conductor speaks another protocol version."""

    def __init__(self, theirs: int) -> None:
        #: The conductor's version byte.
        self.theirs = theirs
        super().__init__(
            f"protocol version mismatch: the conductor speaks version {show_byte(theirs)}, "
            "this client speaks 1")


class HelloTimeout(LockstepError):
    """The conductor's hello did not arrive in time."""


class Refused(LockstepError):
    """The conductor refused this participant; ``reason`` holds its words."""

    def __init__(self, reason: str, at: str) -> None:
        self.reason = reason
        #: Where the session was: ``before the first step``, ``during step N``, ...
        self.at = at
        super().__init__(f"refused by the conductor {at}: {reason}")


class ConductorFailed(LockstepError):
    """The conductor broadcast ``E``: it is shutting down because of an error."""

    def __init__(self, at: str) -> None:
        self.at = at
        super().__init__(
            f"the conductor is shutting down because of an error (received {at})")


class ConnectionLost(LockstepError):
    """The connection closed or broke without the conductor saying goodbye."""

    def __init__(self, at: str, cause: Optional[BaseException] = None) -> None:
        self.at = at
        #: The socket's error, or None when the conductor closed the connection.
        self.cause = cause
        detail = cause if cause is not None else "closed without a goodbye"
        super().__init__(f"connection to the conductor lost {at}: {detail}")


class ConductorGone(LockstepError):
    """The connection was lost without a goodbye and the conductor did not come back within
    the reconnect window."""

    def __init__(self, window: float, at: str, last: BaseException) -> None:
        #: The window, in seconds.
        self.window = window
        #: Where the session was when the connection was lost.
        self.at = at
        #: Why the last try to reconnect failed.
        self.last = last
        super().__init__(f"the conductor did not come back within {window:g} s (connection "
                         f"lost {at}; last try: {last})")


class ProtocolError(LockstepError):
    """The conductor sent something that is not valid here."""


class OutOfTurn(LockstepError):
    """A call the session does not allow now (e.g. done() with no step); nothing was sent."""


class TlsError(LockstepError):
    """The TLS session failed: a certificate problem (unknown issuer, expired, wrong name, a
    client certificate missing or refused) or a broken record, in words."""


class NotTls(TlsError):
    """The conductor answered the TLS handshake with plaintext: it does not speak TLS."""
