"""The client against the real conductor binary (see real_conductor.py); skipped only
when no binary has been built.
"""

import contextlib
import io
import threading
import unittest

import lockstep

from . import DEADLINE
from .real_conductor import CONDUCTOR, RealConductor


class RealConductorTests(unittest.TestCase):

    def start(self, *args):
        conductor = RealConductor(*args)
        self.addCleanup(conductor.close)
        return conductor

    def test_two_participants_run_planned_rounds(self):
        conductor = self.start("--min-clients", "2", "--rounds", "3")
        seen = {}

        def participant(name):
            events = []
            with lockstep.connect(name, port=conductor.port, on_event=events.append) as c:
                seen[name] = ([step for step in c], events)

        threads = [threading.Thread(target=participant, args=(n,)) for n in ("py-a", "py-b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(DEADLINE)
        self.assertEqual(conductor.wait(), 0)
        for name in ("py-a", "py-b"):
            steps, events = seen[name]
            self.assertEqual(steps, [0, 1, 2])
            self.assertEqual(events, [lockstep.ShuttingDown(3), lockstep.ShuttingDown(2),
                                      lockstep.ShuttingDown(1), lockstep.Cease(),
                                      lockstep.Exit()])

    def test_a_duplicate_id_is_refused_with_the_reason(self):
        conductor = self.start("--min-clients", "2")
        with lockstep.connect("twin", port=conductor.port):
            conductor.wait_log("joined: twin")
            with lockstep.connect("twin", port=conductor.port) as second:
                with self.assertRaises(lockstep.Refused) as caught:
                    list(second)
        self.assertEqual(caught.exception.reason, "duplicate id twin")

    def test_the_countdown_reaches_stderr_in_the_conductors_words(self):
        conductor = self.start("--rounds", "1", "--shutdown-countdown", "1")
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            with lockstep.connect("py-say", port=conductor.port) as c:
                self.assertEqual(list(c), [0])
        self.assertEqual(conductor.wait(), 0)
        words = "shutting down after 1 more step"
        self.assertIn(f"lockstep: py-say: the conductor says: {words}\n", said.getvalue())
        conductor.wait_log(words)

    def test_a_failing_step_reaches_the_conductors_log(self):
        conductor = self.start()
        with self.assertRaises(ValueError):
            with lockstep.connect("fragile", port=conductor.port) as c:
                for step in c:
                    if step == 1:
                        raise ValueError("bad input")
        conductor.wait_log("left: fragile")
        conductor.wait_log("refused: step 1: ValueError: bad input")

