"""Wiring: which service handles which domain event (``app.services.events``), and the
outbox recorder that writes every fact to the event log (``app.services.outbox``).

Every entry point calls :func:`wire` before a service runs: the app factory
(``app.main.create_app``), the worker (``app.worker.Dependencies``), the CLI
(``app.cli.main``) and the tests' fixtures. Wiring twice changes nothing.
"""

from __future__ import annotations

from app.domain.events import InvoicePaymentSucceeded
from app.services import events
from app.services.billing import settlement
from app.services.outbox import recorder


def wire(registry: events.Registry = events.registry) -> events.Registry:
    """Register the handlers; raises :class:`events.UnhandledEvent` if a required event
    type is still without one."""
    registry.register(InvoicePaymentSucceeded, settlement.invoice_paid)
    recorder.install()  # every committed fact writes its event (the outbox)
    missing = registry.missing()
    if missing:
        names = ", ".join(sorted(kind.__name__ for kind in missing))
        raise events.UnhandledEvent(f"no handler wired for {names}")
    return registry
