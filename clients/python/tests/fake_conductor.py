"""A scripted fake conductor on loopback: a test writes the conductor's side of one
connection (:class:`Peer`) with messages built by hand, so that the client's decoder is checked
against bytes it did not make.
"""

import socket
import struct
import threading

from . import DEADLINE


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


class Fakes(Fake):
    """Runs ``script(accept)`` on a thread, where ``accept()`` waits for the next connection and
    returns its :class:`Peer`: the conductor of several connections in turn (a restart)."""

    def _run(self, script):
        conns = []

        def accept():
            conn, _ = self.listener.accept()
            conns.append(conn)
            return Peer(conn)

        try:
            self.listener.settimeout(DEADLINE)
            self.result = script(accept)
        except BaseException as err:  # reported by join()
            self.error = err
        finally:
            for conn in conns:
                conn.close()
            self.listener.close()
