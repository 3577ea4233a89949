"""The health port while the bot starts (bot/starting.py): bound at once, answering "starting",
and handed over to the HTTP server whatever its clients do."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from bot.settings import SettingsError
from bot.starting import Starting


def get(port: int, timeout: float = 2.0) -> tuple[bytes, dict[str, object]]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


def test_the_port_answers_starting_until_handed_over() -> None:
    starting = Starting("127.0.0.1", 0)
    status, report = get(starting.port)
    assert status == b"HTTP/1.1 503 Service Unavailable"
    assert report == {"ok": False, "starting": True, "problems": ["The bot is starting."]}

    listening = starting.hand_over()
    try:
        # The socket still listens: a connection now waits for the HTTP server's accept.
        with socket.create_connection(("127.0.0.1", starting.port), timeout=1):
            pass
        listening.settimeout(1)
        accepted, _ = listening.accept()
        accepted.close()
    finally:
        listening.close()


def test_a_slow_client_holds_up_neither_others_nor_the_hand_over() -> None:
    starting = Starting("127.0.0.1", 0)
    slow = socket.create_connection(("127.0.0.1", starting.port))
    stop = threading.Event()

    def trickle() -> None:  # a request head one byte at a time, never finished
        while not stop.is_set():
            try:
                slow.sendall(b"G")
            except OSError:
                return
            time.sleep(0.1)

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        time.sleep(0.05)
        started = time.monotonic()
        status, _ = get(starting.port)
        assert status.startswith(b"HTTP/1.1 503")
        assert time.monotonic() - started < 1.5
        started = time.monotonic()
        starting.hand_over().close()
        assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        slow.close()


def test_a_port_in_use_is_one_setting_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError) as refused:
            Starting("127.0.0.1", port)
    assert str(refused.value) == (
        f"PORT {port} cannot be opened (Address already in use): choose a free port or stop "
        "what is using it"
    )
