"""TLS for the client: :func:`tls_context` makes the ``ssl.SSLContext``, :class:`TlsSocket`
runs the session over a plain socket, and TLS failures become :class:`TlsError` in the words
the Rust client uses.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, Optional

from .errors import ConnectionLost, HelloTimeout, NotTls, TlsError

_RECORD = 16384


def tls_context(ca: str, cert: Optional[str] = None,
                key: Optional[str] = None) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for :func:`lockstep.connect`: TLS 1.3, trusting the CA
    certificates in the PEM file ``ca`` for the conductor's certificate, and presenting the
    certificate in ``cert`` with its private key in ``key`` when the conductor asks for one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(cafile=ca)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context


_ALERTS = {
    "UNKNOWN_CA": "it does not trust the CA that signed this participant's certificate "
                  "(unknown CA)",
    "CERTIFICATE_REQUIRED": "it requires a client certificate and none was given",
    "CERTIFICATE_EXPIRED": "this participant's certificate has expired or is not valid yet",
    "BAD_CERTIFICATE": "this participant's certificate is not acceptable (bad certificate)",
    "DECRYPT_ERROR": "this participant's certificate or a handshake signature does not verify",
}


def _tls_words(err: ssl.SSLError) -> str:
    """What an ``ssl.SSLError`` means, in the words the Rust client uses."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"the conductor's certificate cannot be trusted: {err.verify_message}"
    reason = err.reason or ""
    for name, words in _ALERTS.items():
        if "ALERT" in reason and reason.endswith(name):
            return f"the conductor refused the handshake: {words}"
    return f"TLS failed: {reason or err}"


class TlsSocket:
    """The few socket calls :class:`lockstep.Client` makes, through a TLS session kept in
    memory (``ssl.MemoryBIO``): the socket's bytes go in, plaintext comes out. One lock guards
    the session and the order of its records; waiting for the socket happens outside it, so
    the heartbeat thread can always send."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext,
                 server_hostname: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self._lock = threading.Lock()
        self._heard = False
        self._closing = False

    def handshake(self, deadline: float) -> None:
        """Runs the handshake until ``deadline`` (monotonic seconds)."""
        while True:
            with self._lock:
                try:
                    self._tls.do_handshake()
                    self._send_records()
                    return
                except ssl.SSLWantReadError:
                    self._send_records()
                except ssl.SSLError as err:
                    self._send_records()
                    raise TlsError(_tls_words(err)) from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise HelloTimeout("the TLS handshake did not finish in time")
            self._sock.settimeout(left)
            try:
                raw = self._sock.recv(_RECORD)
            except socket.timeout:
                continue
            if not raw:
                raise ConnectionLost("during the TLS handshake")
            with self._lock:
                self._feed(raw)

    def _feed(self, raw: bytes) -> None:
        if not self._heard:
            self._heard = True
            if raw[0] != 0x16:
                what = {ord("A"): "its plaintext hello",
                        ord("R"): "a plaintext refusal"}.get(raw[0], "plaintext")
                raise NotTls(f"the conductor does not speak TLS: it answered the TLS "
                             f"handshake with {what}")
        self._incoming.write(raw)

    def _send_records(self) -> None:
        """Writes the records the session made; the caller holds the lock."""
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def settimeout(self, timeout: Optional[float]) -> None:
        self._sock.settimeout(timeout)

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def recv(self, size: int) -> bytes:
        if self._closing:
            return self._sock.recv(size)
        while True:
            with self._lock:
                try:
                    data = self._tls.read(size)
                    self._send_records()
                    return data
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    return b""
                except ssl.SSLError as err:
                    raise TlsError(_tls_words(err)) from None
            raw = self._sock.recv(_RECORD)
            if not raw:
                return b""
            with self._lock:
                self._feed(raw)

    def sendall(self, data: bytes) -> None:
        with self._lock:
            self._tls.write(data)
            self._send_records()

    def shutdown(self, how: int) -> None:
        with self._lock:
            self._closing = True
            try:
                self._tls.unwrap()
            except ssl.SSLError:
                pass
            try:
                self._send_records()
            except OSError:
                pass
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()
