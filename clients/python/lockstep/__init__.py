"""A Lockstep participant in Python: standard library only, Python 3.8 or later.

The conductor sends every participant a Go for step n; each does its work and answers Done;
the next step goes out when all are Done. This package speaks that protocol (version 1)::

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

A connection lost without the conductor's ``C``, ``E`` or ``X`` (the conductor was killed or
restarted) is an outage, not an end: the client reconnects as the same id for up to
``reconnect`` seconds (default 30, 0 = never), says so once on stderr (an :class:`Outage`
event to ``on_event``), and carries on; a step the restarted conductor sends again comes as
:class:`Repeated` (iterating skips it), so the loop body runs at most once per step. After the
window :class:`ConductorGone` is raised.

Over TLS, give :func:`connect` an ``ssl.SSLContext``; :func:`tls_context` makes one from the
CA file and, when the conductor asks for client certificates, this participant's certificate
and key::

    tls = lockstep.tls_context("ca.pem", cert="worker-1.pem", key="worker-1.key")
    with lockstep.connect("worker-1", host="conductor.example", tls=tls) as conductor:
        ...

The conductor's certificate must name ``host`` (or ``tls_name``). Certificate problems raise
:class:`TlsError`; a conductor that does not speak TLS raises :class:`NotTls`.

Everything named here is importable from ``lockstep`` itself. The modules behind it:
``lockstep.client`` (:func:`connect`, :class:`Client`), ``lockstep.events`` (what the
conductor says), ``lockstep.errors``; ``_wire`` (the bytes) and ``_tls`` are internal.
"""

from ._tls import tls_context
from ._wire import ID_LEN as ID_LEN, MAX_REASON_LEN as MAX_REASON_LEN, VERSION as VERSION
from .client import (DEFAULT_HEARTBEAT, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_RECONNECT,
                     HELLO_TIMEOUT, Client, connect)
from .errors import (ConductorFailed, ConductorGone, ConnectError, ConnectionLost, HelloTimeout,
                     InvalidId, LockstepError, NotTls, OutOfTurn, ProtocolError, Refused,
                     TlsError, VersionMismatch)
from .events import (Cease, ErrorShutdown, Event, Exit, Go, Outage, Refusal, Repeated,
                     ShuttingDown, Slow)

__all__ = [
    "connect", "Client", "tls_context",
    "Event", "Go", "Repeated", "Slow", "ShuttingDown", "Cease", "ErrorShutdown", "Exit",
    "Refusal", "Outage",
    "LockstepError", "InvalidId", "ConnectError", "VersionMismatch", "HelloTimeout",
    "Refused", "ConductorFailed", "ConnectionLost", "ConductorGone", "ProtocolError",
    "OutOfTurn", "TlsError", "NotTls",
    "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_HEARTBEAT", "DEFAULT_RECONNECT", "HELLO_TIMEOUT",
]
