"""The participant's session: :func:`connect` makes a :class:`Client`, which sends the
answers, reads the conductor's messages (answering its ``?`` itself), runs the step loop with
a heartbeat thread, and says goodbye when its ``with`` block ends.
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
from .errors import (ConductorFailed, ConnectError, ConnectionLost, HelloTimeout, InvalidId,
                     LockstepError, OutOfTurn, ProtocolError, Refused, VersionMismatch)
from .events import Cease, ErrorShutdown, Event, Exit, Go, Refusal, ShuttingDown, Slow

__all__ = ["connect", "Client", "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_HEARTBEAT",
           "HELLO_TIMEOUT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7878
#: Seconds between ``W`` while a step runs; well under the conductor's default probe (5 s).
DEFAULT_HEARTBEAT = 1.0
#: Seconds :func:`connect` waits for the conductor's hello.
HELLO_TIMEOUT = 10.0
#: Seconds a goodbye waits for the conductor to close the connection.
_CLOSE_WAIT = 2.0
_CHUNK = 4096

_Socket = Union[socket.socket, TlsSocket]


def connect(id: str, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
            heartbeat: Optional[float] = DEFAULT_HEARTBEAT,
            on_event: Optional[Callable[[Event], object]] = None,
            hello_timeout: float = HELLO_TIMEOUT, tls: Optional[ssl.SSLContext] = None,
            tls_name: Optional[str] = None) -> Client:
    """Connects to the conductor as ``id`` and exchanges hellos; returns a :class:`Client`.

    ``heartbeat`` is the interval of ``W`` while a step runs (``None`` or 0: none);
    ``on_event`` is called with every event other than Go met while iterating (by default
    ``T``, ``S n``, ``C`` and ``E`` are printed to stderr). A refusal sent
    instead of the hello raises :class:`Refused`; a refusal of the hello itself (duplicate id,
    ``full``) comes as the first event, so iterating raises it. With ``tls``, an
    ``ssl.SSLContext`` (see :func:`lockstep.tls_context`), the session is TLS and the
    conductor's certificate must name ``tls_name`` (default: ``host``); ``hello_timeout`` then
    covers the handshake and the hello.
    """
    try:
        wire_id = _wire.encode_id(id)
    except ValueError as problem:
        raise InvalidId(f"invalid id {id!r}: {problem}") from None
    try:
        plain = socket.create_connection((host, port))
    except OSError as err:
        raise ConnectError(f"cannot connect to the conductor at {host}:{port}: {err}") from err
    sock: _Socket = plain
    try:
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            deadline = time.monotonic() + hello_timeout
            sock = TlsSocket(plain, tls, tls_name or host)
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

    def __init__(self, sock: _Socket, wire_id: bytes, heartbeat: Optional[float],
                 on_event: Optional[Callable[[Event], object]]) -> None:
        self._sock = sock
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
                raise ConnectionLost(self.moment, err) from err
            if not chunk:
                self._ended = True
                raise ConnectionLost(self.moment)
            self._inbox += chunk

    @overload
    def next_event(self, timeout: None = None) -> Event: ...

    @overload
    def next_event(self, timeout: float) -> Optional[Event]: ...

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """Waits for the next event (at most ``timeout`` seconds; then returns None).

        Answers the conductor's ``?`` meanwhile: ``W`` during a step, ``.`` otherwise.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg = self._recv(deadline)
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
            if isinstance(msg, Go):
                if self.step is not None:
                    raise ProtocolError(
                        f"the conductor sent a Go for step {msg.step} {self.moment}")
                self._phase = ("go", msg.step)
            elif isinstance(msg, (Refusal, Exit)):
                self._ended = True
            return msg

    # -- answering

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            try:
                self._sock.sendall(data)
            except OSError as err:
                raise ConnectionLost(self.moment, err) from err

    def ack(self) -> None:
        """Sends ``K``: the Go was received and work starts."""
        phase, step = self._phase
        if phase != "go":
            raise OutOfTurn(f"ack (K) is not allowed {self.moment}; nothing was sent")
        self._send(b"K")
        self._phase = ("working", step)

    def working(self) -> None:
        """Sends ``W``: still working on the step."""
        if self.step is None:
            raise OutOfTurn(f"working (W) is not allowed {self.moment}; nothing was sent")
        self._send(b"W")

    def done(self) -> None:
        """Sends Done (``!``) for the step in progress."""
        step = self.step
        if step is None:
            raise OutOfTurn(f"done (!) is not allowed {self.moment}; nothing was sent")
        self._send(b"!")
        self._phase = ("waiting", step)

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
        """The default ``on_event``: the broadcasts a person wants to see, on stderr, in the
        words of ``conductor join``."""
        if isinstance(event, (Slow, ShuttingDown, Cease, ErrorShutdown)):
            print(f"lockstep: {self.id}: the conductor says: {event}", file=sys.stderr,
                  flush=True)

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
