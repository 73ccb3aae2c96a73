"""Tests of lockstep.py: against a scripted fake conductor on loopback, and against the real
conductor binary: the one LOCKSTEP_CONDUCTOR names, or else the newest one cargo built in this
repository's target directory (target/debug or target/release, or under CARGO_TARGET_DIR).
They are skipped only when no binary has been built.

Run with: python3 -m unittest -v test_lockstep   (from this directory, after cargo build)
"""

import contextlib
import io
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lockstep  # noqa: E402

DEADLINE = 10.0


# --- Conductor messages, built by hand so that the client's decoder is checked -------------

def hello(version=b"1", name=b"fake"):
    return b"A" + version + name.ljust(12, b" ")


def go(step):
    return b"!" + struct.pack("<I", step)


def shutting_down(n):
    return b"S" + struct.pack("<I", n)


def refusal(text):
    return b"R" + struct.pack("<I", len(text)) + text


class Peer:
    """The conductor's side of one connection, scripted by a test."""

    def __init__(self, conn):
        self.conn = conn
        self.inbox = b""
        conn.settimeout(DEADLINE)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        self.conn.sendall(data)

    def send_bytewise(self, data):
        for i in range(len(data)):
            self.conn.sendall(data[i:i + 1])

    def greet(self, name=b"w"):
        """Sends the conductor's hello and checks the client's."""
        self.send(hello())
        got = self.recv()
        assert got == b"A1" + name.ljust(12, b" "), got

    def recv(self):
        """The next client message as bytes, or None once the client closed."""
        while True:
            size = self._complete()
            if size:
                msg, self.inbox = self.inbox[:size], self.inbox[size:]
                return msg
            try:
                chunk = self.conn.recv(1024)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.inbox += chunk

    def _complete(self):
        if not self.inbox:
            return 0
        kind = self.inbox[:1]
        if kind == b"A":
            return 14 if len(self.inbox) >= 14 else 0
        if kind == b"R":
            if len(self.inbox) < 5:
                return 0
            size = 5 + struct.unpack_from("<I", self.inbox, 1)[0]
            return size if len(self.inbox) >= size else 0
        assert kind in b"K!W.?X", f"not a client message: {self.inbox!r}"
        return 1

    def recv_skipping_beats(self):
        while True:
            msg = self.recv()
            if msg != b"W":
                return msg

    def expect(self, data):
        got = self.recv()
        assert got == data, f"expected {data!r}, got {got!r}"


class Fake:
    """Runs ``script(peer)`` as the conductor of the first connection, on a thread."""

    def __init__(self, script):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        try:
            self.listener.settimeout(DEADLINE)
            conn, _ = self.listener.accept()
            with conn:
                self.result = script(Peer(conn))
        except BaseException as err:  # reported by join()
            self.error = err
        finally:
            self.listener.close()

    def join(self):
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive(), "the fake conductor did not finish"
        if self.error is not None:
            raise self.error
        return self.result


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
        with self.connect(fake) as client:
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
            with self.connect(fake) as client:
                with self.assertRaises(error) as caught:
                    list(client)
            self.assertEqual(caught.exception.at, "after step 9")
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


def find_conductor():
    """The conductor binary to test against, or None if none has been built."""
    given = os.environ.get("LOCKSTEP_CONDUCTOR")
    if given:
        return given
    repository = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    target = os.path.join(repository, os.environ.get("CARGO_TARGET_DIR", "target"))
    built = [os.path.normpath(os.path.join(target, profile, "conductor"))
             for profile in ("debug", "release")]
    built = [path for path in built if os.access(path, os.X_OK)]
    return max(built, key=os.path.getmtime) if built else None


CONDUCTOR = find_conductor()


class RealConductor:
    """The conductor binary on a free port, in a scratch directory."""

    def __init__(self, *args):
        self.dir = tempfile.TemporaryDirectory(prefix="lockstep-py-")
        self.log = open(os.path.join(self.dir.name, "conductor.log"), "w+")
        self.process = subprocess.Popen(
            [CONDUCTOR, "--port", "0", *args], cwd=self.dir.name,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, text=True)
        first = self.process.stdout.readline()
        assert first.startswith("listening on "), f"unexpected start-up line {first!r}"
        self.port = int(first.strip().rsplit(":", 1)[1])

    def wait(self):
        return self.process.wait(DEADLINE)

    def logged(self):
        with open(self.log.name) as f:
            return f.read()

    def wait_log(self, text):
        """Waits until the conductor's log contains ``text``."""
        deadline = time.monotonic() + DEADLINE
        while text not in self.logged():
            assert time.monotonic() < deadline, f"{text!r} not logged: {self.logged()}"
            time.sleep(0.01)

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.log.close()
        self.dir.cleanup()


@unittest.skipUnless(CONDUCTOR, "no conductor binary: run cargo build (or set LOCKSTEP_CONDUCTOR)")
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


if __name__ == "__main__":
    unittest.main()
