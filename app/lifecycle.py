"""The serving process's life: after SIGTERM it drains. ``/readyz`` answers 503 at once, so
that load balancers stop sending it new requests, while it goes on answering for
``PAYGATE_SHUTDOWN_DELAY_SECONDS``; then the server stops taking connections and finishes
the requests in flight (uvicorn's graceful shutdown). Process-wide, as signals are."""

from __future__ import annotations

import threading
from types import FrameType

import uvicorn

_draining = threading.Event()


def drain() -> None:
    """From now on the process is on its way out (``/readyz`` says so)."""
    _draining.set()


def draining() -> bool:
    return _draining.is_set()


class DrainingServer(uvicorn.Server):
    """uvicorn's server (``paygate serve``), which on the first SIGTERM or SIGINT drains
    first: readiness turns 503 and requests are still served for ``delay`` seconds; then
    (or at once on a second signal) uvicorn's graceful shutdown."""

    def __init__(self, config: uvicorn.Config, *, delay: float) -> None:
        super().__init__(config)
        self.delay = delay

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.delay <= 0 or draining():
            super().handle_exit(sig, frame)
            return
        drain()
        # uvicorn's loop reads should_exit ten times a second: a timer thread may set it
        later = threading.Timer(self.delay, super().handle_exit, (sig, frame))
        later.daemon = True
        later.start()
