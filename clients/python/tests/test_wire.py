"""The protocol's bytes without a socket: every prefix of every conductor message asks for
more, the whole message decodes, bad bytes are refused as soon as they are seen; ids and
refusal texts are checked and encoded.
"""

import unittest

from lockstep import _wire
from lockstep.events import Cease, ErrorShutdown, Exit, Go, Refusal, ShuttingDown, Slow

from .fake_conductor import go, hello, refusal, shutting_down

MESSAGES = [
    (hello(name=b"conductor"), _wire.Hello(ord("1"), b"conductor   ")),
    (go(0x01020304), Go(0x01020304)),
    (shutting_down(3), ShuttingDown(3)),
    (refusal(b""), Refusal("")),
    (refusal(b"duplicate id w"), Refusal("duplicate id w")),
    (refusal(b"x" * _wire.MAX_REASON_LEN), Refusal("x" * _wire.MAX_REASON_LEN)),
    (b"?", _wire.Probe()),
    (b".", _wire.StillHere()),
    (b"T", Slow()),
    (b"E", ErrorShutdown()),
    (b"C", Cease()),
    (b"X", Exit()),
]


class DecodeTests(unittest.TestCase):

    def test_every_prefix_asks_for_more_and_the_whole_message_decodes(self):
        for data, message in MESSAGES:
            for end in range(len(data)):
                self.assertIsNone(_wire.decode(data[:end]), data[:end])
            self.assertEqual(_wire.decode(data), (message, len(data)))
            self.assertEqual(_wire.decode(bytearray(data + b"X")), (message, len(data)))
            self.assertEqual(_wire.letter(message), chr(data[0]))

    def test_an_unknown_type_byte_is_refused_at_once(self):
        with self.assertRaisesRegex(_wire.Malformed, r"unknown message type 'Z' \(0x5a\)"):
            _wire.decode(b"Z")
        with self.assertRaisesRegex(_wire.Malformed, "unknown message type 0x00,"):
            _wire.decode(b"\x00")

    def test_an_overlong_refusal_is_refused_before_its_text_arrives(self):
        length = (_wire.MAX_REASON_LEN + 1).to_bytes(4, "little")
        with self.assertRaisesRegex(_wire.Malformed, "refusal length 532 is over the limit"):
            _wire.decode(b"R" + length)

    def test_a_refusal_text_must_be_printable(self):
        with self.assertRaisesRegex(_wire.Malformed, "not printable ASCII"):
            _wire.decode(refusal(b"bell\x07"))


class EncodeTests(unittest.TestCase):

    def test_ids_are_padded_to_twelve_bytes(self):
        self.assertEqual(_wire.encode_id("w"), b"w" + b" " * 11)
        self.assertEqual(_wire.encode_id("twelve-bytes"), b"twelve-bytes")
        self.assertEqual(_wire.encode_hello(_wire.encode_id("w")), b"A1w" + b" " * 11)

    def test_invalid_ids_say_what_is_wrong(self):
        for name, problem in [(7, "not a string"), ("é", "only printable ASCII"),
                              ("tab\there", "only printable ASCII"),
                              ("thirteen-byte", "13 bytes long, at most 12 allowed"),
                              ("", "it is blank"), ("   ", "it is blank")]:
            with self.assertRaisesRegex(ValueError, problem, msg=repr(name)):
                _wire.encode_id(name)

    def test_an_id_from_the_wire_is_checked_as_the_rust_client_does(self):
        self.assertIsNone(_wire.id_problem(b"fake        "))
        self.assertEqual(_wire.id_problem(b" " * 12), "it is blank")
        self.assertEqual(_wire.id_problem(b"bad\x07id"),
                         "byte 0x07 at offset 3 is not printable ASCII")

    def test_refusals_are_made_printable_and_cut_to_the_limit(self):
        self.assertEqual(_wire.clean_reason("tab\there é"), b"tab?here ??")
        self.assertEqual(len(_wire.clean_reason("y" * 1000)), _wire.MAX_REASON_LEN)
        self.assertEqual(_wire.encode_refusal(b"no"), b"R\x02\x00\x00\x00no")
