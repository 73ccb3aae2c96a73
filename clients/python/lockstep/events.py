"""What the conductor tells a participant, as values: a Go, the broadcasts and a refusal.

Each prints in the words ``conductor join`` uses. :data:`Event` is any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

__all__ = ["Go", "Slow", "ShuttingDown", "Cease", "ErrorShutdown", "Exit", "Refusal", "Event"]


@dataclass(frozen=True)
class Go:
    """``!``: start this step; answer with ack(), then done() (or refuse())."""
    step: int

    def __str__(self) -> str:
        return f"go for step {self.step}"


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


#: Any event :meth:`lockstep.Client.next_event` returns or ``on_event`` receives.
Event = Union[Go, Slow, ShuttingDown, Cease, ErrorShutdown, Exit, Refusal]
