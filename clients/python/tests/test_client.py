"""The client against a scripted fake conductor: the hello exchange, every event, probes,
answers out of turn, the step loop with its heartbeat, and each way a session ends.
"""

import contextlib
import io
import socket
import threading
import unittest

import lockstep

from . import DEADLINE
from .fake_conductor import Fake, Fakes, go, hello, refusal, shutting_down


class FakeConductorTests(unittest.TestCase):

    def connect(self, fake, name="w", **options):
        return lockstep.connect(name, port=fake.port, **options)

    def test_connect_exchanges_hellos(self):
        fake = Fake(lambda peer: peer.greet(b"worker-1"))
        with self.connect(fake, "worker-1") as client:
            self.assertEqual(client.id, "worker-1")
            self.assertEqual(client.conductor_id, "fake")
            self.assertEqual(client.peer, ("127.0.0.1", fake.port))
            self.assertIsNone(client.step)
            fake.join()

    def test_a_conductor_of_another_version_is_a_clear_error(self):
        fake = Fake(lambda peer: peer.send(hello(version=b"2")))
        with self.assertRaises(lockstep.VersionMismatch) as caught:
            self.connect(fake)
        self.assertEqual(caught.exception.theirs, ord("2"))
        self.assertIn("version '2'", str(caught.exception))
        fake.join()

    def test_a_conductor_hello_with_an_invalid_id_is_a_protocol_error(self):
        for name, problem in [(b" " * 12, "it is blank"),
                              (b"bad\x07id", "byte 0x07 at offset 3 is not printable ASCII")]:
            fake = Fake(lambda peer, name=name: peer.send(hello(name=name)))
            with self.assertRaises(lockstep.ProtocolError) as caught:
                self.connect(fake)
            self.assertEqual(
                str(caught.exception),
                f"the conductor sent a hello with an invalid id ({problem}) before the first step")
            fake.join()

    def test_a_refusal_instead_of_the_hello_carries_the_reason(self):
        fake = Fake(lambda peer: peer.send(refusal(b"address 127.0.0.1 is not allowed")))
        with self.assertRaises(lockstep.Refused) as caught:
            self.connect(fake)
        self.assertEqual(caught.exception.reason, "address 127.0.0.1 is not allowed")
        fake.join()

    def test_anything_else_before_the_hello_is_a_protocol_error(self):
        fake = Fake(lambda peer: peer.send(go(0)))
        with self.assertRaises(lockstep.ProtocolError) as caught:
            self.connect(fake)
        self.assertEqual(str(caught.exception), "the conductor sent '!' instead of its hello")
        fake.join()

    def test_a_silent_conductor_is_a_hello_timeout(self):
        gave_up = threading.Event()
        fake = Fake(lambda peer: gave_up.wait(DEADLINE))
        with self.assertRaises(lockstep.HelloTimeout):
            self.connect(fake, hello_timeout=0.05)
        gave_up.set()
        fake.join()

    def test_invalid_ids_fail_before_connecting(self):
        for bad in ["much-too-long-id", "   ", "", "tab\there", "é"]:
            with self.assertRaises(lockstep.InvalidId, msg=repr(bad)):
                lockstep.connect(bad, port=9)

    def test_nobody_listening_is_a_connect_error(self):
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()
        with self.assertRaises(lockstep.ConnectError) as caught:
            lockstep.connect("w", port=port)
        self.assertIn(f"127.0.0.1:{port}", str(caught.exception))

    def test_events_arrive_whole_from_any_split(self):
        def script(peer):
            peer.greet()
            peer.send_bytewise(b"?." + go(0x01020304))
            peer.expect(b".")
            peer.expect(b"K")
            peer.expect(b"!")
            peer.send_bytewise(b"T" + shutting_down(2) + refusal(b"liveness timeout")
                               + b"ECX")

        fake = Fake(script)
        with self.connect(fake) as client:
            self.assertEqual(client.next_event(DEADLINE), lockstep.Go(0x01020304))
            self.assertEqual(client.step, 0x01020304)
            client.ack()
            client.done()
            self.assertIsNone(client.step)
            for expected in [lockstep.Slow(), lockstep.ShuttingDown(2),
                             lockstep.Refusal("liveness timeout"), lockstep.ErrorShutdown(),
                             lockstep.Cease(), lockstep.Exit()]:
                self.assertEqual(client.next_event(DEADLINE), expected)
        fake.join()

    def test_probes_are_answered_working_during_a_step_and_here_otherwise(self):
        def script(peer):
            peer.greet()
            peer.send(b"?")
            peer.expect(b".")
            peer.send(go(5))
            peer.expect(b"K")
            peer.send(b"?T")
            peer.expect(b"W")
            peer.expect(b"W")
            peer.expect(b"!")
            peer.send(b"?X")
            peer.expect(b".")

        fake = Fake(script)
        with self.connect(fake) as client:
            self.assertEqual(client.next_event(DEADLINE), lockstep.Go(5))
            client.ack()
            self.assertEqual(client.next_event(DEADLINE), lockstep.Slow())
            client.working()
            client.done()
            self.assertEqual(client.next_event(DEADLINE), lockstep.Exit())
        fake.join()

    def test_answers_out_of_turn_are_refused_locally(self):
        def script(peer):
            peer.greet()
            peer.expect(b"X")  # nothing but the leave reaches the conductor
            return peer.recv()

        fake = Fake(script)
        with self.connect(fake) as client:
            for call in (client.ack, client.done, client.working):
                with self.assertRaises(lockstep.OutOfTurn):
                    call()
        self.assertIsNone(fake.join())

    def test_garbage_and_a_second_go_are_protocol_errors(self):
        fake = Fake(lambda peer: (peer.greet(), peer.send(b"Z")))
        with self.connect(fake) as client:
            with self.assertRaisesRegex(lockstep.ProtocolError, "'Z'"):
                client.next_event(DEADLINE)
        fake.join()

        fake = Fake(lambda peer: (peer.greet(), peer.send(go(1) + go(2))))
        with self.connect(fake) as client:
            self.assertEqual(client.next_event(DEADLINE), lockstep.Go(1))
            with self.assertRaisesRegex(lockstep.ProtocolError, "Go for step 2 during step 1"):
                client.next_event(DEADLINE)
        fake.join()

    def test_a_close_during_a_step_names_the_step(self):
        def script(peer):
            peer.greet()
            peer.send(go(3))
            peer.expect(b"K")

        fake = Fake(script)
        with self.connect(fake, on_event=lambda e: None) as client:
            self.assertEqual(client.next_event(DEADLINE), lockstep.Go(3))
            client.ack()
            fake.join()
            with self.assertRaises(lockstep.ConnectionLost) as caught:
                client.next_event(DEADLINE)
            self.assertIn("lost during step 3", str(caught.exception))

    def test_iterating_acks_beats_and_finishes_each_step(self):
        beats_seen = threading.Event()

        def script(peer):
            peer.greet()
            peer.send(go(0))
            peer.expect(b"K")
            peer.expect(b"W")
            peer.expect(b"W")
            beats_seen.set()
            assert peer.recv_skipping_beats() == b"!"
            peer.send(shutting_down(1) + go(1))
            peer.expect(b"K")
            assert peer.recv_skipping_beats() == b"!"
            peer.send(b"CX")
            return peer.recv()

        fake = Fake(script)
        events, steps = [], []
        with self.connect(fake, heartbeat=0.005, on_event=events.append) as client:
            for step in client:
                if step == 0:
                    self.assertTrue(beats_seen.wait(DEADLINE), "no heartbeat seen")
                steps.append(step)
        self.assertEqual(steps, [0, 1])
        self.assertEqual(events, [lockstep.ShuttingDown(1), lockstep.Cease(), lockstep.Exit()])
        self.assertIsNone(fake.join(), "the client closes after X")

    @staticmethod
    def last_words_after_go(step):
        """A script: Go for ``step``, then return the client's answer after K (heartbeats
        aside) once the client has closed."""
        def script(peer):
            peer.greet()
            peer.send(go(step))
            peer.expect(b"K")
            got = peer.recv_skipping_beats()
            assert peer.recv() is None
            return got
        return script

    def test_an_exception_in_a_step_is_refused_with_its_reason(self):
        fake = Fake(self.last_words_after_go(4))
        with self.assertRaisesRegex(RuntimeError, "disk full"):
            with self.connect(fake) as client:
                for _ in client:
                    raise RuntimeError("disk full")
        self.assertEqual(fake.join(), refusal(b"step 4: RuntimeError: disk full"))

    def test_breaking_out_leaves(self):
        fake = Fake(self.last_words_after_go(0))
        with self.connect(fake) as client:
            for _ in client:
                break
        self.assertEqual(fake.join(), b"X")

    def test_refusal_error_shutdown_and_loss_end_the_iteration(self):
        fake = Fake(lambda peer: (peer.greet(), peer.send(refusal(b"duplicate id w"))))
        with self.connect(fake) as client:
            with self.assertRaises(lockstep.Refused) as caught:
                list(client)
        self.assertEqual(caught.exception.reason, "duplicate id w")
        self.assertIn("duplicate id w", str(caught.exception))
        fake.join()

        # After one step: E then X, or a close without a word.
        for last_words, error in [(b"EX", lockstep.ConductorFailed),
                                  (b"", lockstep.ConnectionLost)]:
            def script(peer, last_words=last_words):
                peer.greet()
                peer.send(go(9))
                peer.expect(b"K")
                assert peer.recv_skipping_beats() == b"!"
                peer.send(last_words)

            fake = Fake(script)
            with self.connect(fake, reconnect=0) as client:
                with self.assertRaises(error) as caught:
                    list(client)
            self.assertEqual(caught.exception.at, "after step 9")
            fake.join()

    def test_an_outage_is_ridden_out_and_the_repeated_step_is_not_run_again(self):
        def script(accept):
            first = accept()
            first.greet()
            first.send(go(4))
            first.expect(b"K")
            assert first.recv_skipping_beats() == b"!"
            first.conn.close()
            # The restarted conductor sends the recorded step again, then the next.
            second = accept()
            second.greet()
            second.send(go(4))
            assert second.recv() == b"!", "at once, without K"
            second.send(go(5))
            second.expect(b"K")
            assert second.recv_skipping_beats() == b"!"
            second.send(b"CX")

        fake = Fakes(script)
        seen = []
        ran = []
        with self.connect(fake, heartbeat=None, on_event=seen.append) as client:
            for step in client:
                ran.append(step)
        fake.join()
        self.assertEqual(ran, [4, 5], "each step once")
        self.assertEqual(seen, [
            lockstep.Outage("after step 4", "closed without a goodbye", 30.0),
            lockstep.Repeated(4), lockstep.Cease(), lockstep.Exit()])
        self.assertEqual(
            str(seen[0]),
            "connection to the conductor lost after step 4 (closed without a goodbye); "
            "reconnecting for up to 30 s")

    def test_a_negative_reconnect_window_is_refused(self):
        with self.assertRaisesRegex(ValueError, "reconnect must be 0 or more seconds"):
            lockstep.connect("w", port=1, reconnect=-1)

    def test_a_duplicate_id_during_the_window_is_tried_again(self):
        def script(accept):
            first = accept()
            first.greet()
            first.conn.close()
            second = accept()
            second.greet()
            second.send(refusal(b"duplicate id w"))
            second.conn.close()
            third = accept()
            third.greet()
            third.send(go(0))
            third.expect(b"K")
            assert third.recv_skipping_beats() == b"!"
            third.send(b"X")

        fake = Fakes(script)
        seen = []
        with self.connect(fake, heartbeat=None, on_event=seen.append) as client:
            self.assertEqual(list(client), [0])
        fake.join()
        self.assertEqual(sum(isinstance(e, lockstep.Outage) for e in seen), 1, seen)

    def test_a_conductor_that_never_comes_back_fails_after_the_window(self):
        def script(peer):
            peer.greet()
            peer.send(go(2))
            peer.expect(b"K")
            assert peer.recv_skipping_beats() == b"!"

        fake = Fake(script)
        with self.connect(fake, reconnect=0.3, on_event=lambda e: None) as client:
            with self.assertRaises(lockstep.ConductorGone) as caught:
                list(client)
        fake.join()
        self.assertEqual(caught.exception.at, "after step 2")
        self.assertTrue(str(caught.exception).startswith(
            "the conductor did not come back within 0.3 s (connection lost after step 2; last "
            "try: cannot connect to the conductor at"), str(caught.exception))

    def test_a_loss_found_during_a_step_is_ridden_out_once_the_step_is_done(self):
        def script(accept):
            first = accept()
            first.greet()
            first.send(go(3))
            first.expect(b"K")
            first.conn.close()
            second = accept()
            second.greet()
            second.send(go(3))
            assert second.recv() == b"!"

        fake = Fakes(script)
        with self.connect(fake, on_event=lambda e: None) as client:
            self.assertEqual(client.next_event(DEADLINE), lockstep.Go(3))
            client.ack()
            with self.assertRaises(lockstep.ConnectionLost) as caught:
                client.next_event(DEADLINE)
            self.assertIn("lost during step 3", str(caught.exception))
            client.done()  # nothing is sent: the step counts as done
            self.assertEqual(client.next_event(DEADLINE), lockstep.Repeated(3))
            fake.join()

    def test_broadcasts_reach_stderr_by_default(self):
        def script(peer):
            peer.greet()
            peer.send(b"T" + shutting_down(2) + go(0))
            peer.expect(b"K")
            assert peer.recv_skipping_beats() == b"!"
            peer.send(shutting_down(1) + b"CX")
            return peer.recv()

        fake = Fake(script)
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            with self.connect(fake, heartbeat=None) as client:
                self.assertEqual(list(client), [0])
        self.assertIsNone(fake.join())
        self.assertEqual(said.getvalue().splitlines(), [
            "lockstep: w: the conductor says: this round is taking longer than expected",
            "lockstep: w: the conductor says: shutting down after 2 more steps",
            "lockstep: w: the conductor says: shutting down after 1 more step",
            "lockstep: w: the conductor says: ceasing operation by the operator's decision",
        ])

    def test_a_close_after_cease_is_a_clean_end(self):
        fake = Fake(lambda peer: (peer.greet(), peer.send(b"C")))
        with self.connect(fake, heartbeat=None, on_event=lambda e: None) as client:
            self.assertEqual(list(client), [])
        fake.join()

    def test_refuse_cleans_its_reason(self):
        fake = Fake(lambda peer: (peer.greet(), peer.recv())[1])
        client = self.connect(fake)
        self.assertEqual(client.refuse("tab\there"), "tab?here")
        self.assertEqual(fake.join(), refusal(b"tab?here"))
