"""Read-only records for the read side: rows as light tuples instead of ORM instances.

A page of the resolver path reads a few hundred rows and only reads them: no identity map,
no change tracking, no relationships. Building ORM instances for them cost about as much
as everything else of such a request (SQLAlchemy's ORM execution and hydration ~0.4 ms per
statement over the driver's own). A :class:`Read` is a Core ``SELECT`` of one or more
models' columns, compiled once per process and dialect; on PostgreSQL it runs straight on
an asyncpg connection (the request's reader, or the session's: the same connection and
transaction as the session's own statements, so it sees the request's writes), elsewhere
(SQLite) through the session. A statement built per request with its values in it (a list
page's) runs through :func:`read_select`, compiled once per shape. Each
row becomes one :func:`record_class` tuple per model: the model's column attributes under
the same names, with the same Python values (SQLAlchemy's result processors applied: UTC
datetimes, enums), so the schema types' ``from_model`` read them like the models.

Records are not ORM instances: immutable, no relationships. Code that changes rows loads
them through its session (the services do). Their type is :data:`Record`.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple, TypeAlias, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver_connection

M = TypeVar("M")
# A record of model ``M`` (:func:`record_class`). To a type checker it is ``M``: it has the
# model's column attributes, under the same names and with the same Python values, which is
# what its readers use (the schema types' ``from_model``). At run time it is a named tuple:
# no relationships, nothing to change, in no session.
Record: TypeAlias = Annotated[M, "a read-only record (app.graphql.read.records)"]


class _ModelColumns(NamedTuple):
    record_class: type
    columns: tuple[tuple[str, Any], ...]  # (attribute name, column), in record order


_CLASSES: dict[type, _ModelColumns] = {}


def _model_columns(model: type) -> _ModelColumns:
    found = _CLASSES.get(model)
    if found is None:
        mapper: Any = sa.inspect(model)
        columns = tuple((attr.key, attr.columns[0]) for attr in mapper.column_attrs)
        cls = namedtuple(f"{model.__name__}Record", [key for key, _ in columns])  # type: ignore[misc]
        cls.__doc__ = f"A read-only row of {model.__name__} (``app.graphql.read.records``)."
        found = _CLASSES[model] = _ModelColumns(cls, columns)
    return found


def record_class(model: type) -> type:
    """The record type of ``model``: a named tuple of its column attributes."""
    return _model_columns(model).record_class


def columns(model: type, source: Any = None, only: frozenset[str] | None = None) -> list[Any]:
    """``model``'s columns in record order, labelled with their attribute names, read from
    its table or from ``source`` (a subquery selecting them so labelled); with ``only``, the
    others as ``NULL`` (the record keeps its shape, those attributes are ``None``: the
    driver decodes nothing for them). Those of the table are made once per process."""
    if source is None:
        made = _COLUMNS.get((model, only))
        if made is None:
            made = _COLUMNS[(model, only)] = _columns(model, None, only)
        return list(made)
    return _columns(model, source, only)


# (model, only) -> its columns from its table (SQL expressions are immutable: shared)
_COLUMNS: dict[tuple[type, frozenset[str] | None], list[Any]] = {}


def _columns(model: type, source: Any, only: frozenset[str] | None) -> list[Any]:
    return [
        (column if source is None else source.c[key]).label(key)
        if only is None or key in only
        else sa.null().label(key)
        for key, column in _model_columns(model).columns
    ]


_DRIVER = "paygate.records.driver"


class _Driver(NamedTuple):
    """The driver connection of a session's transaction, kept in ``session.info``."""

    transaction: Any
    connection: Any


async def _driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's current transaction (beginning one if
    none), kept in ``session.info`` for as long as that transaction lasts: a transaction
    holds one connection, so the same transaction means the same connection, and the
    loaders of a request skip SQLAlchemy's two greenlet hops per statement."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_DRIVER)
    if (
        transaction is not None
        and transaction.is_active
        and cached is not None
        and cached.transaction is transaction
    ):
        return cached.connection
    driver = await driver_connection(session)
    session.info[_DRIVER] = _Driver(session.sync_session.get_transaction(), driver)
    return driver


# An engine's dialect -> the tracer of its statements' spans, when tracing is on: reads on
# the driver are outside SQLAlchemy's events, which the engine's tracing listens to.
_TRACERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def trace(engine: Any, tracer: Any) -> None:
    """Give every read on ``engine``'s connections a client span of ``tracer`` (OpenTelemetry),
    as its SQLAlchemy statements get from the engine's instrumentation."""
    _TRACERS[engine.dialect] = tracer


def _client_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.CLIENT


@dataclass(frozen=True, slots=True)
class ReadSource:
    """Where a loader's read runs: ``driver``, an asyncpg connection (on PostgreSQL), or else
    ``session`` (which processes the values itself); ``dialect`` compiles the statement."""

    dialect: Any
    session: AsyncSession | None = None
    driver: Any = None


async def session_source(session: AsyncSession) -> ReadSource:
    """The session's own connection as a read source (its current transaction's, so reads
    see the session's writes)."""
    assert session.bind is not None  # sessions are made bound to the engine
    dialect = session.bind.dialect
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        return ReadSource(dialect, session, await _driver_connection(session))
    return ReadSource(dialect, session)


def _result_processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a column's values, except for enums read on asyncpg: the
    same table from stored value to member (``None`` to ``None``) as a C look-up instead of
    two Python calls per value (an unknown value raises ``KeyError``, a ``LookupError``
    like SQLAlchemy's)."""
    if (
        isinstance(column_type, sa.Enum)
        and column_type.enum_class is not None
        and dialect.driver == "asyncpg"
        and sa.String().result_processor(dialect, None) is None
    ):
        return column_type._object_lookup.__getitem__
    return column_type._cached_result_processor(dialect, None)  # type: ignore[no-any-return]


class Read:
    """A ``SELECT`` whose columns are ``columns(m)`` for each of ``models`` in turn (any
    other columns after them are ignored), made into one record per model and row; ``only``
    as given to ``columns`` (the others are ``NULL``: nothing to convert)."""

    def __init__(
        self,
        statement: sa.Select[Any],
        models: Sequence[type],
        dialect: Any,
        only: frozenset[str] | None = None,
        cache_key: Any = None,
    ) -> None:
        self.statement = statement
        self.models = tuple(models)
        spans = []
        start = 0
        processors: list[Callable[[Any], Any] | None] = []
        for model in self.models:
            cls, model_columns = _model_columns(model)
            spans.append((cls, start, start + len(model_columns)))
            start += len(model_columns)
            processors.extend(
                _result_processor(column.type, dialect) if only is None or key in only else None
                for key, column in model_columns
            )
        self._spans = tuple(spans)
        # One model and no other column: a row is the record's values as they come.
        self._exact = len(spans) == 1 and len(statement.selected_columns) == start
        self._processors = tuple(processors)
        self._processed = tuple(i for i, p in enumerate(processors) if p is not None)
        self._native = dialect.name == "postgresql" and dialect.driver == "asyncpg"
        if self._native:
            # With SQLAlchemy's cache key of the statement, it compiles the statement as its
            # compiled cache does: the values of another statement of the same shape can be
            # given by ``compiled.construct_params`` (``read_select``).
            compiled = self.compiled = statement.compile(dialect=dialect, cache_key=cache_key)
            self._sql = str(compiled)
            self._expanding = bool(compiled.post_compile_params)
            self._names = tuple(compiled.positiontup or ())
            binds = compiled._bind_processors
            self._binds: tuple[Any, ...] = tuple(binds.get(name) for name in self._names)
            self._span_attributes = {
                "db.system": "postgresql",
                "db.operation": "SELECT",
                "db.statement": self._sql,
            }

    async def _values(
        self, source: ReadSource, params: Mapping[str, Any]
    ) -> Sequence[Sequence[Any]]:
        driver = source.driver
        if driver is None or not self._native:  # through the session, which processes them
            assert source.session is not None
            rows: Sequence[Sequence[Any]] = (
                await source.session.execute(self.statement, dict(params))
            ).all()
            return rows
        sql = self._sql
        if self._expanding:  # IN (:list): one parameter per item, the SQL made for them
            state = self.compiled.construct_expanded_state(params, escape_names=False)
            sql, expanded, binds = state.statement, state.parameters, state.processors
            arguments = []
            for name in state.positiontup or ():
                process = binds.get(name)
                value = expanded[name]
                arguments.append(value if process is None else process(value))
        else:
            arguments = [
                value if bind is None else bind(value)
                for value, bind in zip((params[n] for n in self._names), self._binds, strict=True)
            ]
        tracer = _TRACERS.get(source.dialect) if _TRACERS else None
        fetched: Sequence[Sequence[Any]]
        if tracer is None:
            fetched = await driver.fetch(sql, *arguments)
        else:
            with tracer.start_as_current_span(
                "SELECT", kind=_client_kind(), attributes=self._span_attributes
            ):
                fetched = await driver.fetch(sql, *arguments)
        processed = self._processed
        if not processed:
            return fetched
        processors = self._processors
        rows = []
        for record in fetched:
            values = list(record)
            for i in processed:
                values[i] = processors[i](values[i])  # type: ignore[misc]
            rows.append(values)
        return rows

    async def records(self, source: ReadSource, params: Mapping[str, Any]) -> list[Any]:
        """The statement's rows as records of its one model."""
        cls, start, end = self._spans[0]
        make = cls._make  # type: ignore[attr-defined]
        values_of = await self._values(source, params)
        if self._exact:
            return [make(values) for values in values_of]
        return [make(values[start:end]) for values in values_of]

    async def rows(self, source: ReadSource, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The statement's rows, each as a tuple of records, one per model."""
        spans = self._spans
        return [
            tuple(cls._make(values[start:end]) for cls, start, end in spans)  # type: ignore[attr-defined]
            for values in await self._values(source, params)
        ]


@dataclass(frozen=True, slots=True)
class _Derived:
    """A derived statement's :class:`Read`, and where each of its extracted parameters (in
    the order of SQLAlchemy's cache key) comes from: the index of the base statement's own,
    or ``None`` for a named parameter of the derivation (its value given by name)."""

    read: Read
    origins: tuple[int | None, ...]
    placeholders: tuple[Any, ...]


# (cache key of the base statement, variant, dialect name) -> its derived statement's Read
_DERIVED: dict[tuple[Any, Any, str], _Derived] = {}
_MAX_DERIVED = 512


async def read_select(
    source: ReadSource,
    statement: sa.Select[Any],
    derive: Callable[[sa.Select[Any], type], sa.Select[Any]],
    variant: Any,
    values: Mapping[str, Any],
) -> list[Any]:
    """The rows of ``derive(statement, model)`` as records of ``model``, the entity
    ``statement`` selects. ``statement`` is built per request with its values in it
    (filters); ``derive`` adds what is the same for every such statement (with named
    ``bindparam``s whose ``values`` are given here: a cursor, a limit) and selects
    ``columns(model)``; ``variant`` names the derivation. On asyncpg the derived statement is
    built and compiled once per shape of ``statement`` (SQLAlchemy's cache key, which leaves
    the values out, as its compiled cache does) and variant, then run as a :class:`Read`
    with this statement's values; elsewhere built and run through the session each time."""
    dialect = source.dialect
    if source.driver is None or dialect.driver != "asyncpg":
        assert source.session is not None
        model = statement.column_descriptions[0]["entity"]
        make = record_class(model)._make  # type: ignore[attr-defined]
        derived = derive(statement, model)
        return [make(row) for row in await source.session.execute(derived, dict(values))]
    base = statement._generate_cache_key()
    if base is None:  # a statement SQLAlchemy cannot cache: compiled for this read alone
        model = statement.column_descriptions[0]["entity"]
        read = Read(derive(statement, model), (model,), dialect)
        return await read.records(source, read.compiled.construct_params(params=values))
    entry = (base.key, variant, dialect.name)
    found = _DERIVED.get(entry)
    if found is None:
        model = statement.column_descriptions[0]["entity"]
        derived = derive(statement, model)
        key = derived._generate_cache_key()
        assert key is not None  # its base has one, and bindparams do
        index = {id(bind): i for i, bind in enumerate(base.bindparams)}
        origins = tuple(index.get(id(bind)) for bind in key.bindparams)
        read = Read(derived, (model,), dialect, cache_key=key)
        if len(_DERIVED) >= _MAX_DERIVED:
            _DERIVED.clear()
        found = _DERIVED[entry] = _Derived(read, origins, tuple(key.bindparams))
    binds = base.bindparams
    extracted = [
        own if origin is None else binds[origin]
        for origin, own in zip(found.origins, found.placeholders, strict=True)
    ]
    params = found.read.compiled.construct_params(
        params=values, extracted_parameters=extracted, escape_names=False
    )
    return await found.read.records(source, params)
