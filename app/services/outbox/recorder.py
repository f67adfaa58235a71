"""The outbox recorder: every transaction that commits a business fact commits its event.

One SQLAlchemy session listener, installed once per process by ``app.wiring.wire``, so no
code path (GraphQL, webhooks, the billing engine, reconciliation, the CLI) can change a
payment without its event:

1. ``after_flush``: the facts of every tracked row the flush wrote (``facts.of``), each with
   its object's snapshot and the previous values of what changed, are held in the session,
   tagged with the (sub)transaction that flushed them.
2. ``after_soft_rollback``: a rolled-back savepoint or transaction drops what it held.
3. ``before_commit`` of the outermost transaction: the last flush, then the events are
   INSERTed, on PostgreSQL after ``pg_advisory_xact_lock(OUTBOX_LOCK)``. The lock is held
   until COMMIT has made the transaction visible, so event-writing transactions pass the
   INSERT-and-COMMIT step one at a time and ``seq`` (an identity) is the commit order: a
   reader that has seen ``seq`` N never finds a smaller one later. The lock is the last one
   a transaction takes, held for the INSERT and the COMMIT only (no deadlock: nobody
   holding it waits for anything else). A ``NOTIFY paygate_events`` in the same
   transaction wakes the listeners (live subscriptions, the delivery loop) when it commits.
   On SQLite every writer holds the database's write lock from its first write to COMMIT
   (``app.db``), which gives the same order.
"""

from __future__ import annotations

import builtins
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.base import NO_VALUE

from app.domain.event_types import API_VERSION
from app.domain.event_types import EventType as T
from app.domain.ids import new_id
from app.domain.personal_data import scrub_json
from app.models.events import Event
from app.services.outbox import facts
from app.services.outbox.log import ERASED
from app.services.outbox.snapshots import SNAPSHOTS, Snapshot

OUTBOX_LOCK = 0x6F_75_74_62_6F_78  # pg_advisory_xact_lock key ("outbox")
CHANNEL = "paygate_events"
_BUFFER = "paygate.outbox"
# PostgreSQL: the lock, the notification and the rows in one statement (one round trip
# at COMMIT). The CTEs are materialised in order: the lock is held before any row takes
# its ``seq`` (the bigserial's nextval, evaluated per inserted row, in ``ord`` order).
_INSERT_LOCKED = sa.text(
    """
    WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(:lock)),
         woken AS MATERIALIZED (SELECT pg_notify(:channel, '') FROM locked)
    INSERT INTO events
        (id, type, api_version, object_type, object_id, customer_id, data, previous,
         created_at)
    SELECT r.id, r.type, r.api_version, r.object_type, r.object_id, r.customer_id, r.data,
           r.previous, r.created_at
    FROM woken, jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
        ord int, id uuid, type text, api_version text, object_type text, object_id uuid,
        customer_id uuid, data jsonb, previous jsonb, created_at timestamptz)
    ORDER BY r.ord
    """
)
_CREATIONS = frozenset(
    {T.CUSTOMER_CREATED, T.SUBSCRIPTION_CREATED, T.DISPUTE_CREATED, T.PAYMENT_METHOD_ATTACHED}
)
_UPDATED = frozenset(
    {T.CUSTOMER_UPDATED, T.SUBSCRIPTION_UPDATED, T.DISPUTE_UPDATED, T.PAYMENT_METHOD_UPDATED}
)


@dataclass(slots=True)
class Pending:
    tag: SessionTransaction
    type: T
    model: builtins.type
    object_id: uuid.UUID
    customer_id: uuid.UUID | None
    data: Snapshot | None  # None: snapshot ``model`` ``object_id`` when committing
    previous: Snapshot | None


class _Before:
    """A row's attributes as they were before the flush (what the flush changed)."""

    __slots__ = ("_old", "_row")

    def __init__(self, row: Any, old: dict[str, Any]) -> None:
        self._row = row
        self._old = old

    def __getattr__(self, name: str) -> Any:
        old = self._old
        return old[name] if name in old else getattr(self._row, name)


def _changes(row: Any) -> tuple[frozenset[str], dict[str, Any], bool]:
    """What a flush changed of ``row``: the attributes, their previous values, and whether
    one was set with its previous value unknown (set while expired). Read from the state's
    committed values, which hold only the attributes set since the last flush (cheaper
    than every attribute's history)."""
    state = sa.inspect(row)
    columns = state.mapper.column_attrs
    current = state.dict
    old: dict[str, Any] = {}
    blind = False
    for key, value in state.committed_state.items():
        if key not in columns:
            continue
        if value is NO_VALUE:
            blind = True
            old[key] = NO_VALUE
        elif value != current.get(key, NO_VALUE):
            old[key] = value
    changed = frozenset(old)
    return changed, {k: v for k, v in old.items() if v is not NO_VALUE}, blind


def install() -> None:
    """Record events from every session of this process (idempotent)."""
    for name, listener in _LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def uninstall() -> None:
    """Stop recording (``bench/outbox_overhead.py`` measures a payment without the outbox)."""
    for name, listener in _LISTENERS:
        if event.contains(Session, name, listener):
            event.remove(Session, name, listener)


def record(session: Session, type_: T, row: Any, previous: Snapshot | None = None) -> None:
    """State a fact that no column change shows (``subscription.trial_will_end``)."""
    data = SNAPSHOTS[type(row)][1](row)
    owner = facts.owner(row)
    _buffer(session).append(
        Pending(_current(session), type_, type(row), row.id, owner, data, previous)
    )


def _current(session: Session) -> SessionTransaction:
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None, "an event is stated inside a transaction"
    return transaction


def _buffer(session: Session) -> list[Pending]:
    pending: list[Pending] = session.info.setdefault(_BUFFER, [])
    return pending


def _diff(before: Snapshot, after: Snapshot) -> Snapshot:
    return {key: value for key, value in before.items() if after.get(key) != value}


def _after_flush(session: Session, _context: Any) -> None:
    tracked = facts.TRACKED
    found: list[tuple[Any, bool]] = [(o, True) for o in session.new if type(o) in tracked]
    found += [(o, False) for o in session.dirty if type(o) in tracked]
    if not found:
        return
    tag = _current(session)
    pending = _buffer(session)
    for row, new in found:
        before = None
        changed: frozenset[str] = frozenset()
        blind = False  # a value set on an expired attribute: count it as visible
        if not new:
            changed, old, blind = _changes(row)
            if not changed:
                continue
            before = _Before(row, old)
        snapshot = SNAPSHOTS[type(row)][1]
        data: Snapshot | None = None
        previous: Snapshot | None = None
        for fact in facts.of(row, new=new, changed=changed, before=before):
            if fact.key is not None:  # about another object: snapshotted at commit
                pending.append(Pending(tag, fact.type, fact.model, fact.key, None, None, None))
                continue
            if data is None:
                data = snapshot(row)
                if before is not None:
                    previous = _diff(snapshot(before), data)
            if fact.type in _UPDATED and not (previous or blind or "updated_at" in changed):
                continue  # nothing a reader of the object could see moved
            pending.append(
                Pending(tag, fact.type, type(row), row.id, facts.owner(row), data, previous)
            )


def _within(tag: SessionTransaction, ended: SessionTransaction) -> bool:
    node: SessionTransaction | None = tag
    while node is not None:
        if node is ended:
            return True
        node = node.parent
    return False


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_BUFFER)
    if pending:
        pending[:] = [p for p in pending if not _within(p.tag, previous_transaction)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BUFFER, None)
        session.info.pop(ERASED, None)


def _folded(pending: list[Pending]) -> list[Pending]:
    """An object created in this transaction and updated after: one creation event, with
    the object as the transaction leaves it (as Stripe's creation events show it)."""
    created: dict[uuid.UUID, Pending] = {}
    kept = []
    for item in pending:
        if item.type in _CREATIONS:
            created[item.object_id] = item
        elif item.type in _UPDATED and item.object_id in created:
            created[item.object_id].data = item.data
            continue
        kept.append(item)
    return kept


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the outer one commits
        return
    if not session.info.get(_BUFFER) and not session.new and not session.dirty:
        return
    session.flush()
    pending: list[Pending] | None = session.info.pop(_BUFFER, None)
    if not pending:
        return
    pending = _folded(pending)
    now = datetime.now(UTC)
    rows = []
    with session.no_autoflush:
        for item in pending:
            data, owner = item.data, item.customer_id
            if data is None:
                other = session.get(item.model, item.object_id)
                if other is None:
                    continue
                data, owner = SNAPSHOTS[item.model][1](other), facts.owner(other)
            rows.append(
                {
                    "id": new_id(),
                    "type": item.type.value,
                    "api_version": API_VERSION,
                    "object_type": SNAPSHOTS[item.model][0],
                    "object_id": item.object_id,
                    "customer_id": owner,
                    "data": data,
                    "previous": item.previous,
                    "created_at": now,
                }
            )
    if not rows:
        return
    erased = session.info.get(ERASED)
    if erased:
        for row in rows:
            needles = erased.get(row["customer_id"])
            if needles is not None:
                row["data"] = scrub_json(row["data"], needles, personal_keys=True)
                row["previous"] = scrub_json(row["previous"], needles, personal_keys=True)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ordered = [{**row, "ord": order} for order, row in enumerate(rows)]
        batch = orjson.dumps(ordered, default=str).decode()  # asyncpg's UUIDs: str
        connection.execute(_INSERT_LOCKED, {"lock": OUTBOX_LOCK, "channel": CHANNEL, "rows": batch})
    else:
        connection.execute(sa.insert(Event), rows)


_LISTENERS: tuple[tuple[str, Any], ...] = (
    ("after_flush", _after_flush),
    ("after_soft_rollback", _after_soft_rollback),
    ("before_commit", _before_commit),
    ("after_transaction_end", _after_transaction_end),
)
