"""In-process handlers of domain events (``app.domain.events``): run in the session, and the
transaction, of the code that states the event, before it commits.

Handlers are registered explicitly, once, by ``app.wiring.wire``, which every entry point
calls (the app factory, the worker, the CLI, the tests' fixtures). An event whose effect a
transaction must not commit without (an invoice's payment succeeded: billing marks the
invoice paid) raises :class:`UnhandledEvent` when no handler is registered: a process that
was not wired fails loudly rather than leaving invoices unpaid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.clock import Clock
from app.domain.events import DomainEvent, InvoicePaymentSucceeded

E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[AsyncSession, E, Clock], Awaitable[None]]

# Events that must be handled: stating one with no handler registered is an error.
REQUIRED: frozenset[type[DomainEvent]] = frozenset({InvoicePaymentSucceeded})


class UnhandledEvent(RuntimeError):
    """A required event was stated, and nothing is registered to handle it."""


class Registry:
    """Handlers by event type, run in registration order."""

    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler[Any]]] = {}

    def register(self, kind: type[E], handler: Handler[E]) -> None:
        """Handle ``kind`` with ``handler`` (registering the same handler again does nothing)."""
        handlers = self._handlers.setdefault(kind, [])
        if handler not in handlers:
            handlers.append(handler)

    def missing(self) -> frozenset[type[DomainEvent]]:
        """The required event types with no handler."""
        return frozenset(kind for kind in REQUIRED if not self._handlers.get(kind))

    async def dispatch(self, session: AsyncSession, event: DomainEvent, *, clock: Clock) -> None:
        handlers = self._handlers.get(type(event))
        if not handlers:
            if type(event) in REQUIRED:
                raise UnhandledEvent(
                    f"no handler for {type(event).__name__}: call app.wiring.wire() at start-up"
                )
            return
        for handler in tuple(handlers):
            await handler(session, event, clock)


registry = Registry()  # this process's, wired by ``app.wiring.wire``


async def dispatch(session: AsyncSession, event: DomainEvent, *, clock: Clock) -> None:
    """Run the handlers of ``event`` in ``session``'s transaction."""
    await registry.dispatch(session, event, clock=clock)
