"""The health port while the bot starts: bound first thing, answering every request with
503 "starting" from a thread, until the HTTP server takes the listening socket over.

Without it the port stays closed while Python imports the bot (a third of a second) and while
a schema upgrade runs (a minute at 100,000 releases): a health check would see no process at
all, and Slack a refused connection rather than an answer it retries.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time

from bot.settings import SettingsError

# The shape of the bot's own report when it cannot read the database (`health.Unreadable`),
# marked: a client waiting for the running bot waits while "starting" is there.
STARTING = {"ok": False, "starting": True, "problems": ["The bot is starting."]}
_READ_AT_MOST = 16_384  # a request's head, read and dropped: every answer is the same
# The most one client is given: a slow one (or one that sends nothing) never holds up the
# answers to others, nor the hand-over.
_CLIENT_WITHIN = 0.5


def cannot_open(port: int, error: OSError) -> SettingsError:
    """The one-line error for a PORT that cannot be listened on."""
    # The system's own words ("Address already in use"), without what socket.create_server
    # adds to them.
    reason = os.strerror(error.errno) if error.errno else str(error)
    return SettingsError(
        "PORT", f"{port} cannot be opened ({reason})", "choose a free port or stop what is using it"
    )


class Starting:
    """Listens on `host`:`port` at once (raises SettingsError naming PORT if it cannot)."""

    def __init__(self, host: str, port: int) -> None:
        try:
            self.socket = socket.create_server((host, port), backlog=128)
        except OSError as error:
            raise cannot_open(port, error) from None
        # The thread accepts on a copy: closing the copy leaves the socket listening, and
        # connections waiting in its queue are the HTTP server's to accept.
        self._listener = self.socket.dup()
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._answer, name="starting", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def _answer(self) -> None:
        body = json.dumps(STARTING, indent=2).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        # The thread closes its copy itself: closed from another thread while this one waits
        # in accept(), the copy's descriptor could be reused by a socket that is not ours.
        with self._listener:
            self._serve(head.encode() + body)

    def _serve(self, answer: bytes) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                deadline = time.monotonic() + _CLIENT_WITHIN
                try:
                    received = b""
                    while b"\r\n\r\n" not in received and len(received) < _READ_AT_MOST:
                        connection.settimeout(max(0.001, deadline - time.monotonic()))
                        chunk = connection.recv(4096)
                        if not chunk:
                            break
                        received += chunk
                    connection.settimeout(max(0.001, deadline - time.monotonic()))
                    connection.sendall(answer)
                except OSError:
                    pass  # gone, or too slow: nothing more to tell it

    def hand_over(self) -> socket.socket:
        """Stop answering; the listening socket, for the HTTP server to serve on. Waits at
        most as long as one client is given (the thread ends on its own, a daemon)."""
        self._stop.set()
        self._thread.join(_CLIENT_WITHIN + 0.1)
        return self.socket

    def close(self) -> None:
        """Stop answering and stop listening (a start that failed)."""
        self.hand_over().close()
