"""Tests of the Python client: against a scripted fake conductor on loopback, and against the
real conductor binary (see real_conductor.py for which one). Run from clients/python, after
cargo build, with either of

    python3 -m unittest -v
    python3 -m pytest

They test the package they import: the one beside them in a checkout, or an installed one
when they are run from elsewhere.
"""

#: Seconds a test waits for anything.
DEADLINE = 10.0
