"""Two workers advancing one shared toy model in lockstep, with the Python client.

The twin of examples/two_workers.rs: a row of 31 cells evolves by rule 90 (every cell
becomes the exclusive or of its two neighbours). Worker ``left`` computes cells 0..16 of each
new row and worker ``right`` cells 16..31; a new row needs the whole previous one, so neither
may start step n+1 before both finished step n, which is what the conductor guarantees.
Start a conductor that waits for both and runs 15 steps, then this example::

    cargo run --release -- --min-clients 2 --rounds 15
    python3 clients/python/examples/two_workers.py        # in a second terminal

It prints the 16 rows, a Sierpinski triangle. ``--port P`` picks another conductor port. It
uses the installed ``lockstep`` package (``pip install ./clients/python``), or else the one in
the checkout it is part of.
"""

import argparse
import os
import sys
import threading

try:
    import lockstep
except ImportError:  # not installed: use the package beside this example, in a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import lockstep

WIDTH = 31


class Model:
    """The finished rows and the row being computed, shared by both workers."""

    def __init__(self):
        first = [False] * WIDTH
        first[WIDTH // 2] = True
        self.rows = [first]
        self.next = list(first)
        self.step = None
        self.lock = threading.Lock()

    def advance(self, step, cells):
        """Computes ``cells`` of the new row for ``step`` from the last finished row."""
        with self.lock:
            if self.step != step:
                # The first worker into a step files the row of the step before; both workers
                # finished it, since the conductor sends this step's Go only when all are Done.
                if self.step is not None:
                    self.rows.append(list(self.next))
                self.step = step
            last = self.rows[-1]
            for i in cells:
                self.next[i] = last[(i - 1) % WIDTH] != last[(i + 1) % WIDTH]

    def picture(self):
        rows = self.rows + ([self.next] if self.step is not None else [])
        return "".join("".join("#" if c else " " for c in row).rstrip() + "\n" for row in rows)


def simulate(port):
    """Runs both workers until the conductor ends the run; returns the picture."""
    model = Model()
    errors = []

    def worker(name, cells):
        try:
            with lockstep.connect(name, port=port) as conductor:
                for step in conductor:
                    model.advance(step, cells)
        except lockstep.LockstepError as err:
            errors.append(f"{name}: {err}")

    threads = [threading.Thread(target=worker, args=("left", range(0, WIDTH // 2 + 1))),
               threading.Thread(target=worker, args=("right", range(WIDTH // 2 + 1, WIDTH)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("two_workers: " + "; ".join(errors))
    return model.picture()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=lockstep.DEFAULT_PORT)
    print(simulate(parser.parse_args().port), end="")


if __name__ == "__main__":
    main()
