"""A merchant's webhook receiver on a free local port (a thread of ``http.server``), which
verifies every request with the ``standardwebhooks`` library itself."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def verifies(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except Exception:
            return False
        return True


@dataclass
class Receiver:
    url: str
    # How to answer the n-th request (0-based): a status code, or "hang" (sleep past it).
    answer: Callable[[int, Received], int | str] = lambda _n, _r: 200
    received: list[Received] = field(default_factory=list)
    cut_short: int = 0  # requests whose body never arrived whole
    release: threading.Event = field(default_factory=threading.Event)

    def ids(self) -> list[str]:
        return [r.id for r in self.received]


@contextmanager
def receiver(path: str = "/hooks") -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request (a killed worker)
                state.cut_short += 1
                return
            got = Received({k.lower(): v for k, v in self.headers.items()}, body)
            with lock:
                n = len(state.received)
                state.received.append(got)
            reply = state.answer(n, got)
            if reply == "hang":
                state.release.wait(30)
                reply = 200
            status = int(reply)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("location", state.url + "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll a condition (for processes we do not drive); fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
