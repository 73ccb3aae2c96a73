"""The protocol's bytes (version 1): the participant's messages encoded, the conductor's
decoded incrementally, ids and refusal texts checked. No sockets, no state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, Optional, Tuple, Type, Union

from .events import Cease, ErrorShutdown, Exit, Go, Refusal, ShuttingDown, Slow, Event

#: The protocol version this client speaks, as its byte.
VERSION = ord("1")
#: An id's length on the wire: 1 to 12 printable ASCII characters, padded with spaces.
ID_LEN = 12
#: The longest refusal text, in bytes.
MAX_REASON_LEN = 531
_HELLO_LEN = 2 + ID_LEN


@dataclass(frozen=True)
class Hello:
    """``A``: the conductor's hello, with its protocol version byte and its 12-byte id."""
    version: int
    id: bytes


@dataclass(frozen=True)
class Probe:
    """``?``: the conductor asks whether this participant is still there."""


@dataclass(frozen=True)
class StillHere:
    """``.``: the conductor is still there (its answer to a participant's ``?``)."""


#: Any message from the conductor.
Message = Union[Hello, Probe, StillHere, Event]

_SINGLE_BYTE: Dict[str, Message] = {
    "?": Probe(), ".": StillHere(), "T": Slow(), "E": ErrorShutdown(), "C": Cease(),
    "X": Exit(),
}
_LETTERS: Dict[Type[object], str] = {
    Hello: "A", Go: "!", ShuttingDown: "S", Refusal: "R",
    **{type(message): letter for letter, message in _SINGLE_BYTE.items()},
}


class Malformed(ValueError):
    """Bytes from the conductor that start no valid message; the text says why."""


def letter(message: Message) -> str:
    """The type byte of ``message``, as a one-character string."""
    return _LETTERS[type(message)]


def show_byte(byte: int) -> str:
    """A byte as messages name it: ``'2' (0x32)``, or ``0x07`` when it is not printable."""
    if 0x20 <= byte <= 0x7E and byte != ord("'"):
        return f"'{chr(byte)}' (0x{byte:02x})"
    return f"0x{byte:02x}"


def _printable(data: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in data)


def id_problem(data: bytes) -> Optional[str]:
    """What is wrong with an id as it arrived on the wire (12 bytes), or None; worded as the
    Rust client words it."""
    for offset, byte in enumerate(data):
        if not 0x20 <= byte <= 0x7E:
            return f"byte 0x{byte:02x} at offset {offset} is not printable ASCII"
    if not data.strip(b" "):
        return "it is blank"
    return None


def encode_id(name: object) -> bytes:
    """``name`` as the 12 bytes of a hello; ``ValueError`` says what makes it no valid id."""
    if not isinstance(name, str):
        raise ValueError("not a string")
    data = name.encode("ascii", errors="replace")
    if not name.isascii() or not _printable(data):
        raise ValueError("only printable ASCII is allowed")
    if len(data) > ID_LEN:
        raise ValueError(f"{len(data)} bytes long, at most {ID_LEN} allowed")
    if not data.strip(b" "):
        raise ValueError("it is blank")
    return data.ljust(ID_LEN, b" ")


def encode_hello(wire_id: bytes) -> bytes:
    """The participant's hello ``A`` for a 12-byte id from :func:`encode_id`."""
    return b"A" + bytes([VERSION]) + wire_id


def clean_reason(text: str) -> bytes:
    """Makes ``text`` a valid refusal: printable ASCII, at most 531 bytes."""
    data = bytes(b if 0x20 <= b <= 0x7E else ord("?") for b in str(text).encode("utf-8"))
    return data[:MAX_REASON_LEN]


def encode_refusal(reason: bytes) -> bytes:
    """The participant's refusal ``R`` with a text from :func:`clean_reason`."""
    return b"R" + struct.pack("<I", len(reason)) + reason


def decode(buf: Union[bytes, bytearray]) -> Optional[Tuple[Message, int]]:
    """Decodes the conductor message at the start of ``buf``.

    Returns ``(message, bytes used)``, or None when more bytes are needed; raises
    :class:`Malformed` as soon as the bytes cannot start a valid message (a refusal's length
    is checked before its text arrives).
    """
    if not buf:
        return None
    kind = chr(buf[0])
    if kind == "A":
        if len(buf) < _HELLO_LEN:
            return None
        return Hello(buf[1], bytes(buf[2:_HELLO_LEN])), _HELLO_LEN
    if kind in ("!", "S"):
        if len(buf) < 5:
            return None
        number: int = struct.unpack_from("<I", buf, 1)[0]
        return (Go(number) if kind == "!" else ShuttingDown(number)), 5
    if kind == "R":
        if len(buf) < 5:
            return None
        length: int = struct.unpack_from("<I", buf, 1)[0]
        if length > MAX_REASON_LEN:
            raise Malformed(f"refusal length {length} is over the limit of {MAX_REASON_LEN}")
        if len(buf) < 5 + length:
            return None
        text = bytes(buf[5:5 + length])
        if not _printable(text):
            raise Malformed("refusal text is not printable ASCII")
        return Refusal(text.decode("ascii")), 5 + length
    message = _SINGLE_BYTE.get(kind)
    if message is None:
        raise Malformed(
            f"unknown message type {show_byte(buf[0])}, expected one of A ! R X ? . T S E C")
    return message, 1
