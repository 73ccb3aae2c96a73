"""The real conductor binary for the tests: the one LOCKSTEP_CONDUCTOR names, or else the
newest one cargo built in this repository's target directory (target/debug or target/release,
or under CARGO_TARGET_DIR); :data:`CONDUCTOR` is None when none has been built.
"""

import os
import subprocess
import tempfile
import time

from . import DEADLINE


def find_conductor():
    """The conductor binary to test against, or None if none has been built."""
    given = os.environ.get("LOCKSTEP_CONDUCTOR")
    if given:
        return given
    repository = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
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
