"""The participant's session: :func:`connect` makes a :class:`Client`, which sends the
answers, reads the conductor's messages (answering its ``?`` itself), runs the step loop with
a heartbeat thread, rides out outages by reconnecting, and says goodbye when its ``with`` block
ends.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from types import TracebackType
from typing import Callable, Iterator, Optional, Tuple, Type, Union, overload

from . import _wire
from ._tls import TlsSocket
from .errors import (ConductorFailed, ConductorGone, ConnectError, ConnectionLost, HelloTimeout,
                     InvalidId, LockstepError, OutOfTurn, ProtocolError, Refused,
                     VersionMismatch)
from .events import (Cease, ErrorShutdown, Event, Exit, Go, Outage, Refusal, Repeated,
                     ShuttingDown, Slow)

__all__ = ["connect", "Client", "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_HEARTBEAT",
           "DEFAULT_RECONNECT", "HELLO_TIMEOUT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
#: Seconds between ``W`` while a step runs; well under the conductor's default probe (5 s).
DEFAULT_HEARTBEAT = 1.0
#: Seconds :func:`connect` waits for the conductor's hello.
HELLO_TIMEOUT = 10.0
#: Seconds an outage is ridden out (see :class:`Client`); 0 = never.
DEFAULT_RECONNECT = 30.0
#: The longest wait, in seconds, between two tries to reconnect.
_MAX_BACKOFF = 1.0
#: Seconds a goodbye waits for the conductor to close the connection.
_CLOSE_WAIT = 2.0
_CHUNK = 4096

_Socket = Union[socket.socket, TlsSocket]


def connect(id: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
            heartbeat: Optional[float] = DEFAULT_HEARTBEAT,
            on_event: Optional[Callable[[Event], object]] = None,
            hello_timeout: float = HELLO_TIMEOUT, tls: Optional[ssl.SSLContext] = None,
            tls_name: Optional[str] = None,
            reconnect: float = DEFAULT_RECONNECT) -> Client:
    """Connects to the conductor as ``id`` and exchanges hellos; returns a :class:`Client`.

    ``heartbeat`` is the interval of ``W`` while a step runs (``None`` or 0: none);
    ``on_event`` is called with every event other than Go met while iterating, and with each
    :class:`Outage` (by default ``T``, ``S n``, ``C``, ``E`` and outages are printed to
    stderr). A refusal sent instead of the hello raises :class:`Refused`; a refusal of the
    hello itself (duplicate id, ``full``) comes as the first event, so iterating raises it.
    With ``tls``, an ``ssl.SSLContext`` (see :func:`lockstep.tls_context`), the session is
    TLS and the conductor's certificate must name ``tls_name`` (default: ``host``);
    ``hello_timeout`` then covers the handshake and the hello. ``reconnect`` is how many
    seconds an outage is ridden out (0: a lost connection is the end); see :class:`Client`.
    """
    try:
        wire_id = _wire.encode_id(id)
    except ValueError as problem:
        raise InvalidId(f"invalid id {id!r}: {problem}") from None
    if not reconnect >= 0:
        raise ValueError(f"reconnect must be 0 or more seconds, not {reconnect!r}")
    dial = _Dial(host, port, tls, tls_name or host, hello_timeout, reconnect)
    sock = dial.open(None)
    try:
        client = Client(sock, wire_id, heartbeat, on_event, dial)
        client._read_hello(hello_timeout)
    except BaseException:
        sock.close()
        raise
    return client


class _Dial:
    """How to open a session: where the conductor is, TLS, the hello's time limit, and how
    long an outage is ridden out."""

    def __init__(self, host: str, port: int, tls: Optional[ssl.SSLContext], tls_name: str,
                 hello_timeout: float, reconnect: float) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_name = tls_name
        self.hello_timeout = hello_timeout
        self.reconnect = reconnect

    def open(self, within: Optional[float]) -> _Socket:
        """A connected socket (TLS handshake done), within ``within`` seconds if given."""
        try:
            plain = socket.create_connection((self.host, self.port), timeout=within)
        except OSError as err:
            raise ConnectError(
                f"cannot connect to the conductor at {self.host}:{self.port}: {err}") from err
        sock: _Socket = plain
        try:
            plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                limit = self.hello_timeout if within is None else min(within,
                                                                      self.hello_timeout)
                sock = TlsSocket(plain, self.tls, self.tls_name)
                sock.handshake(time.monotonic() + limit)
        except BaseException:
            sock.close()
            raise
        return sock


class Client:
    """A participant connected to a conductor. Make one with :func:`connect`.

    A connection lost without the conductor's ``C``, ``E`` or ``X`` is an outage (the
    conductor may be restarting): reading connects again with backoff (at most 1 s between
    tries) for up to ``reconnect`` seconds, says hello with the same id (a ``duplicate id``
    refusal meanwhile is tried again) and carries on; the outage is announced once, as an
    :class:`Outage` event to ``on_event``. A Go for the step completed last, the first after a
    reconnection, is answered at once and comes as :class:`Repeated`: the step is not run
    again (iterating skips it). After the window :class:`ConductorGone` is raised. While the
    window is open a failed write is not an error: the next read finds the outage. A loss
    found while a step is in progress (reading during a step) raises :class:`ConnectionLost`
    once; the client stays usable: :meth:`done` then records the step as completed (nothing
    is sent) and the next read reconnects.
    """

    def __init__(self, sock: _Socket, wire_id: bytes, heartbeat: Optional[float],
                 on_event: Optional[Callable[[Event], object]], dial: _Dial) -> None:
        self._sock = sock
        self._dial = dial
        self._inbox = bytearray()
        self._wire_id = wire_id
        #: The conductor's id, from its hello.
        self.conductor_id = ""
        host, port = sock.getpeername()[:2]
        #: The conductor's address and port.
        self.peer: Tuple[str, int] = (host, port)
        self._heartbeat = heartbeat if heartbeat else None
        self._on_event: Callable[[Event], object] = (
            on_event if on_event is not None else self._say)
        # (phase, step): ("waiting", last done or None), ("go", n), ("working", n)
        self._phase: Tuple[str, Optional[int]] = ("waiting", None)
        self._ended = False
        # The conductor said C or E, or X or R: a loss afterwards is the end, not an outage.
        self._farewell = False
        self._goodbye = False
        # The step completed last, across sessions.
        self._last_done: Optional[int] = None
        # Why the connection was lost: the socket's error, or None for a close.
        self._lost_cause: Optional[BaseException] = None
        # A reconnected session's step completed before: a first Go for it is a repeat.
        self._may_repeat: Optional[int] = None
        # A loss found during a step, to ride out once the step is done: (since, at).
        self._loss: Optional[Tuple[float, str]] = None
        # Since the last reconnection, until its first event: the outage it ended.
        self._rejoining: Optional[Tuple[float, str]] = None
        self._write_lock = threading.Lock()
        self._beat = threading.Condition()
        self._beating = False
        self._epoch = 0
        self._stop = False
        self._beater: Optional[threading.Thread] = None
        self._send(_wire.encode_hello(wire_id))

    # -- what the session knows

    @property
    def id(self) -> str:
        """This participant's id, without padding."""
        return self._wire_id.decode("ascii").rstrip(" ")

    @property
    def step(self) -> Optional[int]:
        """The step in progress (a Go arrived, Done not yet sent), or None."""
        phase, step = self._phase
        return None if phase == "waiting" else step

    @property
    def moment(self) -> str:
        """Where the session is, in words: before the first step, during or after step N."""
        phase, step = self._phase
        if phase != "waiting":
            return f"during step {step}"
        return "before the first step" if step is None else f"after step {step}"

    # -- receiving

    def _read_hello(self, within: float) -> None:
        msg = self._recv(time.monotonic() + within)
        if msg is None:
            raise HelloTimeout(f"the conductor sent no hello within {within} s")
        if isinstance(msg, Refusal):
            self._ended = True
            raise Refused(msg.reason, self.moment)
        if not isinstance(msg, _wire.Hello):
            raise ProtocolError(
                f"the conductor sent {_wire.letter(msg)!r} instead of its hello")
        if msg.version != _wire.VERSION:
            raise VersionMismatch(msg.version)
        problem = _wire.id_problem(msg.id)
        if problem is not None:
            raise ProtocolError(
                f"the conductor sent a hello with an invalid id ({problem}) {self.moment}")
        self.conductor_id = msg.id.decode("ascii").rstrip(" ")

    def _recv(self, deadline: Optional[float]) -> Optional[_wire.Message]:
        """The next message, or None once ``deadline`` (monotonic seconds) passes."""
        while True:
            try:
                decoded = _wire.decode(self._inbox)
            except _wire.Malformed as err:
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
                chunk = self._sock.recv(_CHUNK)
            except socket.timeout:
                continue
            except OSError as err:
                self._ended = True
                self._lost_cause = err
                raise ConnectionLost(self.moment, err) from err
            if not chunk:
                self._ended = True
                self._lost_cause = None
                raise ConnectionLost(self.moment)
            self._inbox += chunk

    @overload
    def next_event(self, timeout: None = None) -> Event: ...

    @overload
    def next_event(self, timeout: float) -> Optional[Event]: ...

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Waits for the next event (at most ``timeout`` seconds; then returns None).

        Answers the conductor's ``?`` meanwhile: ``W`` during a step, ``.`` otherwise. Rides
        out outages (see :class:`Client`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._loss is not None:
            since, at = self._loss
            self._loss = None
            self._ride_out(since, at)
        while True:
            try:
                msg = self._recv(deadline)
            except ConnectionLost:
                if not self._outage():
                    raise
                since, at = self._rejoining or (time.monotonic(), self.moment)
                if self._rejoining is None:
                    self._on_event(Outage(at, self._lost_how, self._dial.reconnect))
                self._rejoining = None
                if self.step is not None:
                    # The step's work may still run: ridden out once it is done.
                    self._loss = (since, at)
                    raise
                self._ride_out(since, at)
                continue
            if msg is None:
                return None
            if isinstance(msg, _wire.Probe):
                try:
                    self._send(b"W" if self.step is not None else b".")
                except ConnectionLost:
                    pass  # the next read says how the connection ended
                continue
            if isinstance(msg, _wire.StillHere):
                continue
            if isinstance(msg, _wire.Hello):
                raise ProtocolError(f"the conductor sent a second hello {self.moment}")
            rejoining, self._rejoining = self._rejoining, None
            if isinstance(msg, Go):
                if self.step is not None:
                    raise ProtocolError(
                        f"the conductor sent a Go for step {msg.step} {self.moment}")
                repeat, self._may_repeat = self._may_repeat, None
                if repeat is not None and msg.step == repeat:
                    self._quietly(b"!")
                    return Repeated(msg.step)
                self._phase = ("go", msg.step)
            elif isinstance(msg, Refusal):
                if rejoining is not None and msg.reason.startswith("duplicate id"):
                    # The conductor has not noticed the old connection yet.
                    self._ride_out(*rejoining)
                    continue
                self._ended = self._goodbye = True
            elif isinstance(msg, Exit):
                self._ended = self._goodbye = True
            elif isinstance(msg, (Cease, ErrorShutdown)):
                self._farewell = True
            return msg

    # -- outages

    def _outage(self) -> bool:
        """Whether the connection just lost is an outage to ride out."""
        return self._dial.reconnect > 0 and not self._farewell and not self._goodbye

    def _ride_out(self, since: float, at: str) -> None:
        """Connects again until a session is open, within the window that began at ``since``;
        raises :class:`ConductorGone` after it, or a failure that will not mend."""
        deadline = since + self._dial.reconnect
        backoff = 0.05
        while True:
            try:
                self._reopen(max(deadline - time.monotonic(), 0.001))
                self._rejoining = (since, at)
                return
            except (ConnectError, ConnectionLost, HelloTimeout) as err:
                last: LockstepError = err
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConductorGone(self._dial.reconnect, at, last) from last
            time.sleep(min(backoff, left))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _reopen(self, within: float) -> None:
        """A new session on a new connection, continuing after the step completed last."""
        sock = self._dial.open(within)
        old = self._sock
        self._sock = sock
        self._inbox = bytearray()
        self._phase = ("waiting", self._last_done)
        self._may_repeat = self._last_done
        self._ended = False
        try:
            old.close()
        except OSError:
            pass
        try:
            self._send(_wire.encode_hello(self._wire_id))
            self._read_hello(min(within, self._dial.hello_timeout))
        except BaseException:
            self._ended = True
            raise

    @property
    def _lost_how(self) -> str:
        cause = self._lost_cause
        return "closed without a goodbye" if cause is None else str(cause)

    # -- answering

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            try:
                self._sock.sendall(data)
            except OSError as err:
                raise ConnectionLost(self.moment, err) from err

    def _quietly(self, data: bytes) -> None:
        """Sends ``data``; while outages are ridden out a failed write is no error (the next
        read finds the outage)."""
        try:
            self._send(data)
        except ConnectionLost:
            if not self._outage():
                raise

    def ack(self) -> None:
        """Sends ``K``: the Go was received and work starts."""
        phase, step = self._phase
        if phase != "go":
            raise OutOfTurn(f"ack (K) is not allowed {self.moment}; nothing was sent")
        self._phase = ("working", step)
        self._quietly(b"K")

    def working(self) -> None:
        """Sends ``W``: still working on the step."""
        if self.step is None:
            raise OutOfTurn(f"working (W) is not allowed {self.moment}; nothing was sent")
        self._quietly(b"W")

    def done(self) -> None:
        """Sends Done (``!``) for the step in progress (after a loss found during the step,
        records it as completed and sends nothing; see :class:`Client`)."""
        step = self.step
        if step is None:
            raise OutOfTurn(f"done (!) is not allowed {self.moment}; nothing was sent")
        self._phase = ("waiting", step)
        self._last_done = step
        if self._loss is not None:
            self._loss = (self._loss[0], self.moment)
            return
        self._quietly(b"!")

    def leave(self) -> None:
        """Sends ``X``, waits briefly for the conductor to close, and closes."""
        try:
            self._send(b"X")
        finally:
            self._finish()

    def refuse(self, reason: str) -> str:
        """Sends ``R`` with ``reason`` (made printable, cut to 531 bytes), waits briefly for
        the conductor to close, and closes. Returns the reason as sent."""
        data = _wire.clean_reason(reason)
        try:
            self._send(_wire.encode_refusal(data))
        finally:
            self._finish()
        return data.decode("ascii")

    def _finish(self) -> None:
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
                if not self._sock.recv(_CHUNK):
                    break
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        """Stops the heartbeat and closes the connection (without a goodbye)."""
        self._ended = True
        self._stop_heartbeat()
        self._sock.close()

    # -- the step loop

    def _say(self, event: Event) -> None:
        """The default ``on_event``: the broadcasts a person wants to see, and outages, on
        stderr, in the words of ``conductor join``."""
        if isinstance(event, (Slow, ShuttingDown, Cease, ErrorShutdown)):
            print(f"lockstep: {self.id}: the conductor says: {event}", file=sys.stderr,
                  flush=True)
        elif isinstance(event, Outage):
            print(f"lockstep: {self.id}: {event}", file=sys.stderr, flush=True)

    def __iter__(self) -> Iterator[int]:
        return self.steps()

    def steps(self) -> Iterator[int]:
        """Yields each step number; see the package's documentation."""
        ceased = False
        failed_at: Optional[str] = None
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
                    continue  # the next read says how the connection ended (no outage)
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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        """Leaves with ``X``; after an exception other than a :class:`LockstepError`, refuses
        the step with the exception's type and text instead. The exception goes on."""
        self._end_heartbeat()
        if self._ended:
            self.close()
            return
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

    # -- heartbeat: a helper thread writes W (under the write lock) while a step runs

    def _begin_heartbeat(self) -> None:
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

    def _end_heartbeat(self) -> None:
        """Stops the beats of this step; returns once no ``W`` is being written."""
        with self._beat:
            self._beating = False
            self._beat.notify()

    def _stop_heartbeat(self) -> None:
        with self._beat:
            self._beating = False
            self._stop = True
            self._beat.notify()
            beater, self._beater = self._beater, None
        if beater is not None and beater is not threading.current_thread():
            beater.join()

    def _beat_loop(self) -> None:
        interval = self._heartbeat
        if interval is None:
            return
        with self._beat:
            while not self._stop:
                if not self._beating:
                    self._beat.wait()
                    continue
                epoch = self._epoch
                due = time.monotonic() + interval
                while self._beating and self._epoch == epoch and not self._stop:
                    left = due - time.monotonic()
                    if left > 0:
                        self._beat.wait(left)
                        continue
                    try:
                        self._send(b"W")
                    except ConnectionLost:
                        pass  # the main thread's next read says how the connection ended
                    due = time.monotonic() + interval
