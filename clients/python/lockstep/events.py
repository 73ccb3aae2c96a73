"""What the conductor tells a participant, as values: a Go, the broadcasts and a refusal.

Each prints in the words ``conductor join`` uses. :data:`Event` is any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["Go", "Repeated", "Slow", "ShuttingDown", "Cease", "ErrorShutdown", "Exit", "Refusal",
           "Outage", "Event"]


@dataclass(frozen=True)
class Go:
    """``!``: start this step; answer with ack(), then done() (or refuse())."""
    step: int

    def __str__(self) -> str:
        return f"go for step {self.step}"


@dataclass(frozen=True)
class Repeated:
    """The first Go after a reconnection was for the step completed last: Done is already
    sent. Do not run the step again."""
    step: int

    def __str__(self) -> str:
        return (f"go for step {self.step} again: done before the reconnection, answered Done "
                "without running it")


@dataclass(frozen=True)
class Slow:
    """``T``: the round is taking longer than expected."""

    def __str__(self) -> str:
        return "this round is taking longer than expected"


@dataclass(frozen=True)
class ShuttingDown:
    """``S n``: the conductor will end after n more steps, counting the next one."""
    steps: int

    def __str__(self) -> str:
        if self.steps == 1:
            return "shutting down after 1 more step"
        return f"shutting down after {self.steps} more steps"


@dataclass(frozen=True)
class Cease:
    """``C``: the operator ends the run; ``X`` follows."""

    def __str__(self) -> str:
        return "ceasing operation by the operator's decision"


@dataclass(frozen=True)
class ErrorShutdown:
    """``E``: the conductor is shutting down because of an error; ``X`` follows."""

    def __str__(self) -> str:
        return "shutting down because of an error"


@dataclass(frozen=True)
class Exit:
    """``X``: the conductor closes this connection."""

    def __str__(self) -> str:
        return "closing the connection"


@dataclass(frozen=True)
class Refusal:
    """``R``: the conductor refused this participant and closes the connection."""
    reason: str

    def __str__(self) -> str:
        return f"refused: {self.reason}"


@dataclass(frozen=True)
class Outage:
    """Not the conductor's word but the client's: the connection was lost without a goodbye
    and the client is reconnecting (given to ``on_event`` once per outage)."""
    #: Where the session was: ``after step N``, ``during step N``, ...
    at: str
    #: How it was lost: ``closed without a goodbye``, or the socket's error.
    how: str
    #: Seconds the client tries to reconnect.
    window: float

    def __str__(self) -> str:
        return (f"connection to the conductor lost {self.at} ({self.how}); reconnecting for "
                f"up to {self.window:g} s")


#: Any event :meth:`lockstep.Client.next_event` returns or ``on_event`` receives.
Event = Union[Go, Repeated, Slow, ShuttingDown, Cease, ErrorShutdown, Exit, Refusal, Outage]
