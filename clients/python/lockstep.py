"""A Lockstep participant in Python: one file, standard library only.

The conductor sends every participant a Go for step n; each does its work and answers Done;
the next step goes out when all are Done. This module speaks that protocol (version 1)::

    import lockstep

    with lockstep.connect("worker-1", port=7878) as conductor:
        for step in conductor:
            advance_my_model(step)

Iterating yields each step number. ``K`` is sent before the step is yielded, ``W`` every
``heartbeat`` seconds (from a helper thread) while the loop body runs, and Done when the loop
asks for the next step. Iteration ends when the conductor ends the run (``C`` then ``X``).
The broadcasts ``T`` (slow round), ``S n`` (shutting down after n steps), ``C``, ``E`` and
``X`` go to the ``on_event`` callback given to :func:`connect`. By default ``T``, ``S n``,
``C`` and ``E`` are printed to stderr in the words ``conductor join`` uses
(``lockstep: worker-1: the conductor says: shutting down after 3 more steps``); give
``on_event`` to handle them yourself (``on_event=lambda event: None`` keeps quiet). A refusal
raises :class:`Refused` with the conductor's words; ``E`` raises :class:`ConductorFailed`.

If the loop body raises, leaving the ``with`` block refuses the step with the reason
``step N: <ExceptionType>: <message>`` and the exception goes on. Leaving the block any other
way (``break``, ``return``) sends ``X``.

The same by hand, for a program that wants every event::

    with lockstep.connect("worker-2") as conductor:
        while True:
            event = conductor.next_event()
            if isinstance(event, lockstep.Go):
                conductor.ack()
                work(event.step)
                conductor.done()
            elif isinstance(event, lockstep.Exit):
                break

While waiting for an event the client answers the conductor's ``?`` itself: ``W`` during a
step (after a Go, before Done), ``.`` otherwise.

Over TLS, give :func:`connect` an ``ssl.SSLContext``; :func:`tls_context` makes one from the
CA file and, when the conductor asks for client certificates, this participant's certificate
and key::

    tls = lockstep.tls_context("ca.pem", cert="worker-1.pem", key="worker-1.key")
    with lockstep.connect("worker-1", host="conductor.example", tls=tls) as conductor:
        ...

The conductor's certificate must name ``host`` (or ``tls_name``). Certificate problems raise
:class:`TlsError`; a conductor that does not speak TLS raises :class:`NotTls`.
"""

import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass

__all__ = [
    "connect", "Client", "tls_context",
    "Go", "Slow", "ShuttingDown", "Cease", "ErrorShutdown", "Exit", "Refusal",
    "LockstepError", "InvalidId", "ConnectError", "VersionMismatch", "HelloTimeout",
    "Refused", "ConductorFailed", "ConnectionLost", "ProtocolError", "OutOfTurn",
    "TlsError", "NotTls",
    "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_HEARTBEAT", "HELLO_TIMEOUT",
]

VERSION = ord("1")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
#: Seconds between ``W`` while a step runs; well under the conductor's default probe (5 s).
DEFAULT_HEARTBEAT = 1.0
#: Seconds :func:`connect` waits for the conductor's hello.
HELLO_TIMEOUT = 10.0
ID_LEN = 12
MAX_REASON_LEN = 531
_CLOSE_WAIT = 2.0


# --- Events --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Go:
    """``!``: start this step; answer with ack(), then done() (or refuse())."""
    step: int

    def __str__(self):
        return f"go for step {self.step}"


@dataclass(frozen=True)
class Slow:
    """``T``: the round is taking longer than expected."""

    def __str__(self):
        return "this round is taking longer than expected"


@dataclass(frozen=True)
class ShuttingDown:
    """``S n``: the conductor will end after n more steps, counting the next one."""
    steps: int

    def __str__(self):
        if self.steps == 1:
            return "shutting down after 1 more step"
        return f"shutting down after {self.steps} more steps"


@dataclass(frozen=True)
class Cease:
    """``C``: the operator ends the run; ``X`` follows."""

    def __str__(self):
        return "ceasing operation by the operator's decision"


@dataclass(frozen=True)
class ErrorShutdown:
    """``E``: the conductor is shutting down because of an error; ``X`` follows."""

    def __str__(self):
        return "shutting down because of an error"


@dataclass(frozen=True)
class Exit:
    """``X``: the conductor closes this connection."""

    def __str__(self):
        return "closing the connection"


@dataclass(frozen=True)
class Refusal:
    """``R``: the conductor refused this participant and closes the connection."""
    reason: str

    def __str__(self):
        return f"refused: {self.reason}"


# --- Errors --------------------------------------------------------------------------------

class LockstepError(Exception):
    """Anything that ends a participant's session."""


class InvalidId(LockstepError, ValueError):
    """The id is not 1 to 12 printable ASCII characters, or only spaces."""


class ConnectError(LockstepError):
    """No TCP connection could be made to the conductor."""


class VersionMismatch(LockstepError):
    """The conductor speaks another protocol version."""

    def __init__(self, theirs):
        self.theirs = theirs
        super().__init__(
            f"protocol version mismatch: the conductor speaks version {_show_byte(theirs)}, "
            "this client speaks 1")


class HelloTimeout(LockstepError):
    """The conductor's hello did not arrive in time."""


class Refused(LockstepError):
    """The conductor refused this participant; ``reason`` holds its words."""

    def __init__(self, reason, at):
        self.reason = reason
        self.at = at
        super().__init__(f"refused by the conductor {at}: {reason}")


class ConductorFailed(LockstepError):
    """The conductor broadcast ``E``: it is shutting down because of an error."""

    def __init__(self, at):
        self.at = at
        super().__init__(
            f"the conductor is shutting down because of an error (received {at})")


class ConnectionLost(LockstepError):
    """The connection closed or broke without the conductor saying goodbye."""

    def __init__(self, at, cause=None):
        self.at = at
        self.cause = cause
        detail = cause if cause is not None else "closed without a goodbye"
        super().__init__(f"connection to the conductor lost {at}: {detail}")


class ProtocolError(LockstepError):
    """The conductor sent something that is not valid here."""


class OutOfTurn(LockstepError):
    """A call the session does not allow now (e.g. done() with no step); nothing was sent."""


class TlsError(LockstepError):
    """The TLS session failed: a certificate problem (unknown issuer, expired, wrong name, a
    client certificate missing or refused) or a broken record, in words."""


class NotTls(TlsError):
    """The conductor answered the TLS handshake with plaintext: it does not speak TLS."""


# --- Wire format ---------------------------------------------------------------------------

def _show_byte(byte):
    if 0x20 <= byte <= 0x7E and byte != ord("'"):
        return f"'{chr(byte)}' (0x{byte:02x})"
    return f"0x{byte:02x}"


def _printable(data):
    return all(0x20 <= b <= 0x7E for b in data)


def _id_problem(data):
    """What is wrong with an id as it arrived on the wire (12 bytes), or None; worded as the
    Rust client words it."""
    for offset, byte in enumerate(data):
        if not 0x20 <= byte <= 0x7E:
            return f"byte 0x{byte:02x} at offset {offset} is not printable ASCII"
    if not data.strip(b" "):
        return "it is blank"
    return None


def _encode_id(name):
    if not isinstance(name, str):
        raise InvalidId(f"invalid id {name!r}: not a string")
    data = name.encode("ascii", errors="replace")
    if not name.isascii() or not _printable(data):
        raise InvalidId(f"invalid id {name!r}: only printable ASCII is allowed")
    if len(data) > ID_LEN:
        raise InvalidId(f"invalid id {name!r}: {len(data)} bytes long, at most {ID_LEN} allowed")
    if not data.strip(b" "):
        raise InvalidId(f"invalid id {name!r}: it is blank")
    return data.ljust(ID_LEN, b" ")


def _clean_reason(text):
    """Makes ``text`` a valid refusal: printable ASCII, at most 531 bytes."""
    data = bytes(b if 0x20 <= b <= 0x7E else ord("?") for b in str(text).encode("utf-8"))
    return data[:MAX_REASON_LEN]


def _decode(buf):
    """Decodes the conductor message at the start of ``buf``.

    Returns ``(message, used)`` or ``None`` when more bytes are needed. A message is a tuple
    whose first item is its type byte as a one-character string.
    """
    if not buf:
        return None
    kind = chr(buf[0])
    if kind == "A":
        if len(buf) < 14:
            return None
        return ("A", buf[1], bytes(buf[2:14])), 14
    if kind in "!S":
        if len(buf) < 5:
            return None
        return (kind, struct.unpack_from("<I", buf, 1)[0]), 5
    if kind == "R":
        if len(buf) < 5:
            return None
        length = struct.unpack_from("<I", buf, 1)[0]
        if length > MAX_REASON_LEN:
            raise ProtocolError(f"refusal length {length} is over the limit of {MAX_REASON_LEN}")
        if len(buf) < 5 + length:
            return None
        text = bytes(buf[5:5 + length])
        if not _printable(text):
            raise ProtocolError("refusal text is not printable ASCII")
        return ("R", text.decode("ascii")), 5 + length
    if kind in "X?.TEC":
        return (kind,), 1
    raise ProtocolError(
        f"unknown message type {_show_byte(buf[0])}, expected one of A ! R X ? . T S E C")


_SIMPLE_EVENTS = {"T": Slow(), "C": Cease(), "E": ErrorShutdown(), "X": Exit()}


# --- TLS ---------------------------------------------------------------------------------

def tls_context(ca, cert=None, key=None):
    """An ``ssl.SSLContext`` for :func:`connect`: TLS 1.3, trusting the CA certificates in the
    PEM file ``ca`` for the conductor's certificate, and presenting the certificate in ``cert``
    with its private key in ``key`` when the conductor asks for one."""
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


def _tls_words(err):
    """What an ``ssl.SSLError`` means, in the words the Rust client uses."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"the conductor's certificate cannot be trusted: {err.verify_message}"
    reason = err.reason or ""
    for name, words in _ALERTS.items():
        if "ALERT" in reason and reason.endswith(name):
            return f"the conductor refused the handshake: {words}"
    return f"TLS failed: {reason or err}"


class _TlsSocket:
    """The few socket calls :class:`Client` makes, through a TLS session kept in memory
    (``ssl.MemoryBIO``): the socket's bytes go in, plaintext comes out. One lock guards the
    session and the order of its records; waiting for the socket happens outside it, so the
    heartbeat thread can always send."""

    def __init__(self, sock, context, server_hostname):
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self._lock = threading.Lock()
        self._heard = False
        self._closing = False

    def handshake(self, deadline):
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
                raw = self._sock.recv(16384)
            except socket.timeout:
                continue
            if not raw:
                raise ConnectionLost("during the TLS handshake")
            with self._lock:
                self._feed(raw)

    def _feed(self, raw):
        if not self._heard:
            self._heard = True
            if raw[0] != 0x16:
                what = {ord("A"): "its plaintext hello",
                        ord("R"): "a plaintext refusal"}.get(raw[0], "plaintext")
                raise NotTls(f"the conductor does not speak TLS: it answered the TLS "
                             f"handshake with {what}")
        self._incoming.write(raw)

    def _send_records(self):
        """Writes the records the session made; the caller holds the lock."""
        data = self._outgoing.read()
        if data:
            self._sock.sendall(data)

    def settimeout(self, timeout):
        self._sock.settimeout(timeout)

    def getpeername(self):
        return self._sock.getpeername()

    def recv(self, size):
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
            raw = self._sock.recv(16384)
            if not raw:
                return b""
            with self._lock:
                self._feed(raw)

    def sendall(self, data):
        with self._lock:
            self._tls.write(data)
            self._send_records()

    def shutdown(self, how):
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

    def close(self):
        self._sock.close()


# --- The client ----------------------------------------------------------------------------

def connect(id, host=DEFAULT_HOST, port=DEFAULT_PORT, *, heartbeat=DEFAULT_HEARTBEAT,
            on_event=None, hello_timeout=HELLO_TIMEOUT, tls=None, tls_name=None):
    """Connects to the conductor as ``id`` and exchanges hellos; returns a :class:`Client`.

    ``heartbeat`` is the interval of ``W`` while a step runs (``None`` or 0: none);
    ``on_event`` is called with every event other than Go met while iterating (by default
    ``T``, ``S n``, ``C`` and ``E`` are printed to stderr). A refusal sent
    instead of the hello raises :class:`Refused`; a refusal of the hello itself (duplicate id,
    ``full``) comes as the first event, so iterating raises it. With ``tls``, an
    ``ssl.SSLContext`` (see :func:`tls_context`), the session is TLS and the conductor's
    certificate must name ``tls_name`` (default: ``host``); ``hello_timeout`` then covers the
    handshake and the hello.
    """
    wire_id = _encode_id(id)
    try:
        sock = socket.create_connection((host, port))
    except OSError as err:
        raise ConnectError(f"cannot connect to the conductor at {host}:{port}: {err}") from err
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            deadline = time.monotonic() + hello_timeout
            sock = _TlsSocket(sock, tls, tls_name or host)
            sock.handshake(deadline)
            hello_timeout = max(deadline - time.monotonic(), 0.001)
        client = Client(sock, wire_id, heartbeat, on_event)
        client._read_hello(hello_timeout)
    except BaseException:
        sock.close()
        raise
    return client


class Client:
    """A participant connected to a conductor. Make one with :func:`connect`."""

    def __init__(self, sock, wire_id, heartbeat, on_event):
        self._sock = sock
        self._inbox = bytearray()
        self._wire_id = wire_id
        self.conductor_id = None
        self.peer = sock.getpeername()[:2]
        self._heartbeat = heartbeat if heartbeat else None
        self._on_event = on_event if on_event is not None else self._say
        # (phase, step): ("waiting", last done or None), ("go", n), ("working", n)
        self._phase = ("waiting", None)
        self._ended = False
        self._write_lock = threading.Lock()
        self._beat = threading.Condition()
        self._beating = False
        self._epoch = 0
        self._stop = False
        self._beater = None
        self._send(b"A" + bytes([VERSION]) + wire_id)

    # -- what the session knows

    @property
    def id(self):
        """This participant's id, without padding."""
        return self._wire_id.decode("ascii").rstrip(" ")

    @property
    def step(self):
        """The step in progress (a Go arrived, Done not yet sent), or None."""
        phase, step = self._phase
        return None if phase == "waiting" else step

    @property
    def moment(self):
        """Where the session is, in words: before the first step, during or after step N."""
        phase, step = self._phase
        if phase != "waiting":
            return f"during step {step}"
        return "before the first step" if step is None else f"after step {step}"

    # -- receiving

    def _read_hello(self, within):
        msg = self._recv(time.monotonic() + within)
        if msg is None:
            raise HelloTimeout(f"the conductor sent no hello within {within} s")
        if msg[0] == "R":
            self._ended = True
            raise Refused(msg[1], self.moment)
        if msg[0] != "A":
            raise ProtocolError(f"the conductor sent {msg[0]!r} instead of its hello")
        if msg[1] != VERSION:
            raise VersionMismatch(msg[1])
        problem = _id_problem(msg[2])
        if problem is not None:
            raise ProtocolError(
                f"the conductor sent a hello with an invalid id ({problem}) {self.moment}")
        self.conductor_id = msg[2].decode("ascii", errors="replace").rstrip(" ")

    def _recv(self, deadline):
        """The next message, or None once ``deadline`` (monotonic seconds) passes."""
        while True:
            try:
                decoded = _decode(self._inbox)
            except ProtocolError as err:
                raise ProtocolError(f"the conductor sent bytes that are no message ({err}) "
                                    f"{self.moment}") from None
            if decoded is not None:
                msg, used = decoded
                del self._inbox[:used]
                return msg
            if deadline is None:
                self._sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(4096)
            except socket.timeout:
                continue
            except OSError as err:
                self._ended = True
                raise ConnectionLost(self.moment, err) from err
            if not chunk:
                self._ended = True
                raise ConnectionLost(self.moment)
            self._inbox += chunk

    def next_event(self, timeout=None):
        """Waits for the next event (at most ``timeout`` seconds; then returns None).

        Answers the conductor's ``?`` meanwhile: ``W`` during a step, ``.`` otherwise.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
            if msg is None:
                return None
            kind = msg[0]
            if kind == "?":
                try:
                    self._send(b"W" if self.step is not None else b".")
                except ConnectionLost:
                    pass  # the next read says how the connection ended
                continue
            if kind == ".":
                continue
            if kind == "A":
                raise ProtocolError(f"the conductor sent a second hello {self.moment}")
            if kind == "!":
                if self.step is not None:
                    raise ProtocolError(
                        f"the conductor sent a Go for step {msg[1]} {self.moment}")
                self._phase = ("go", msg[1])
                return Go(msg[1])
            if kind == "S":
                return ShuttingDown(msg[1])
            if kind == "R":
                self._ended = True
                return Refusal(msg[1])
            if kind == "X":
                self._ended = True
            return _SIMPLE_EVENTS[kind]

    # -- answering

    def _send(self, data):
        with self._write_lock:
            try:
                self._sock.sendall(data)
            except OSError as err:
                raise ConnectionLost(self.moment, err) from err

    def ack(self):
        """Sends ``K``: the Go was received and work starts."""
        phase, step = self._phase
        if phase != "go":
            raise OutOfTurn(f"ack (K) is not allowed {self.moment}; nothing was sent")
        self._send(b"K")
        self._phase = ("working", step)

    def working(self):
        """Sends ``W``: still working on the step."""
        if self.step is None:
            raise OutOfTurn(f"working (W) is not allowed {self.moment}; nothing was sent")
        self._send(b"W")

    def done(self):
        """Sends Done (``!``) for the step in progress."""
        step = self.step
        if step is None:
            raise OutOfTurn(f"done (!) is not allowed {self.moment}; nothing was sent")
        self._send(b"!")
        self._phase = ("waiting", step)

    def leave(self):
        """Sends ``X``, waits briefly for the conductor to close, and closes."""
        try:
            self._send(b"X")
        finally:
            self._finish()

    def refuse(self, reason):
        """Sends ``R`` with ``reason`` (made printable, cut to 531 bytes), waits briefly for
        the conductor to close, and closes. Returns the reason as sent."""
        data = _clean_reason(reason)
        try:
            self._send(b"R" + struct.pack("<I", len(data)) + data)
        finally:
            self._finish()
        return data.decode("ascii")

    def _finish(self):
        """Half-closes, reads until the conductor closes (for a moment at most), closes."""
        self._ended = True
        self._stop_heartbeat()
        deadline = time.monotonic() + _CLOSE_WAIT
        try:
            self._sock.shutdown(socket.SHUT_WR)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._sock.settimeout(left)
                if not self._sock.recv(4096):
                    break
        except OSError:
            pass
        self.close()

    def close(self):
        """Stops the heartbeat and closes the connection (without a goodbye)."""
        self._ended = True
        self._stop_heartbeat()
        self._sock.close()

    # -- the step loop

    def _say(self, event):
        """The default ``on_event``: the broadcasts a person wants to see, on stderr, in the
        words of ``conductor join``."""
        if isinstance(event, (Slow, ShuttingDown, Cease, ErrorShutdown)):
            print(f"lockstep: {self.id}: the conductor says: {event}", file=sys.stderr,
                  flush=True)

    def __iter__(self):
        return self.steps()

    def steps(self):
        """Yields each step number; see the module's documentation."""
        ceased = False
        failed_at = None
        while True:
            try:
                event = self.next_event()
            except ConnectionLost as lost:
                if ceased:
                    return
                if failed_at is not None:
                    raise ConductorFailed(failed_at) from lost
                raise
            if isinstance(event, Go):
                try:
                    self.ack()
                except ConnectionLost:
                    continue  # the next read says how the connection ended
                self._begin_heartbeat()
                try:
                    yield event.step
                finally:
                    self._end_heartbeat()
                try:
                    self.done()
                except ConnectionLost:
                    pass  # the next read says how the connection ended
                continue
            self._on_event(event)
            if isinstance(event, Cease):
                ceased = True
            elif isinstance(event, ErrorShutdown):
                failed_at = self.moment
            elif isinstance(event, Exit):
                if failed_at is not None:
                    raise ConductorFailed(failed_at)
                return
            elif isinstance(event, Refusal):
                raise Refused(event.reason, self.moment)

    # -- context manager

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self._end_heartbeat()
        if self._ended:
            self.close()
            return False
        try:
            if exc is None:
                self.leave()
            elif isinstance(exc, LockstepError):
                self.close()
            else:
                what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                step = self.step
                self.refuse(what if step is None else f"step {step}: {what}")
        except LockstepError:
            self.close()
        return False

    # -- heartbeat: a helper thread writes W (under the write lock) while a step runs

    def _begin_heartbeat(self):
        if self._heartbeat is None:
            return
        with self._beat:
            if self._beater is None:
                self._beater = threading.Thread(
                    target=self._beat_loop, name="lockstep-heartbeat", daemon=True)
                self._beater.start()
            self._beating = True
            self._epoch += 1
            self._beat.notify()

    def _end_heartbeat(self):
        """Stops the beats of this step; returns once no ``W`` is being written."""
        with self._beat:
            self._beating = False
            self._beat.notify()

    def _stop_heartbeat(self):
        with self._beat:
            self._beating = False
            self._stop = True
            self._beat.notify()
            beater, self._beater = self._beater, None
        if beater is not None and beater is not threading.current_thread():
            beater.join()

    def _beat_loop(self):
        with self._beat:
            while not self._stop:
                if not self._beating:
                    self._beat.wait()
                    continue
                epoch = self._epoch
                due = time.monotonic() + self._heartbeat
                while self._beating and self._epoch == epoch and not self._stop:
                    left = due - time.monotonic()
                    if left > 0:
                        self._beat.wait(left)
                        continue
                    try:
                        self._send(b"W")
                    except ConnectionLost:
                        pass  # the main thread's next read says how the connection ended
                    due = time.monotonic() + self._heartbeat

