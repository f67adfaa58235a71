"""Schemathesis fuzzes every root field of the GraphQL schema through the HTTP app.

The schema is the app's own (its introspection; ``test_every_root_field_is_fuzzed`` checks
that it names the root fields the app serves over HTTP). Each Query and Mutation field is one
test with a database of its own, seeded with one object of every kind, whose IDs
schemathesis's resource pool puts into ID arguments of the right type, so that deep paths
run; its dictionaries put plausible amounts, emails, tokens and codes into arguments by
name, and the scalar strategies of ``fuzzing.py`` add values at and past every limit.
Schemathesis generates ``FUZZ_EXAMPLES`` derandomized documents per field (30 in ``make
test``, 500 in ``make test-long``: ``tests/conftest.py``), the same ones on every run; some
leave optional arguments out, about a third pass their arguments as variables. Each is
POSTed to ``/graphql`` with ``fuzz_headers``, one after the other, on one app and one
database.

At least a quarter of each field's documents must reach execution (get past parsing,
validation and coercion: ``data`` comes back, or an error at a field's ``path``): a fuzzer
whose documents the server refuses before any resolver runs tests nothing else, so broken
generation fails the test instead of passing it. (The lowest share, ``createExperiment``'s,
was 45 % at 40 documents per field and 62 % at CI's 200, when 55 of the 63 fields were above
90 %.)

Every response must be below 500, and each of its errors either a request error (syntax,
validation, coercion: no ``path``) or typed (``extensions.code``). An ``INTERNAL_ERROR`` is a
bug, and so is a message quoting SQL, drivers or tracebacks, and so is a mutation call whose
audit event the database refused (``paygate.audit`` logs it). Findings are counted, and the
test fails with the documents that caused them. ``-s`` prints the tallies, and
``PAYGATE_FUZZ_REPORT=file`` appends them as JSON lines (also from pytest-xdist workers).

Run alone: ``pytest tests/security/test_fuzz.py -n 2`` (pytest-xdist spreads the 48 tests
over two processes; they need no grouping). A field's documents are generated first, then
sent: generating them in a thread while sending was no faster (both need the interpreter
lock), and generating costs about as much as sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.generation.feedback import FeedbackSources

from app.graphql.schema import schema as paygate_schema
from app.security.principals import Role
from tests.conftest import FUZZ_EXAMPLES, Api
from tests.factories import staff_key
from tests.security.fuzzing import CONFIG, POOL, Tally, prepare, register_scalars
from tests.security.seed import seed

pytestmark = pytest.mark.slow
register_scalars()
SCHEMA = schemathesis.graphql.from_dict(
    graphql.introspection_from_schema(paygate_schema._schema), config=CONFIG
)
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
MIN_EXECUTED = 0.25  # of each field's documents, reaching execution
# Fields whose generated documents mostly fail validation, for a reason of the generator:
# - hypothesis-graphql does not know @oneOf: most documents for createRiskRule give several
#   fields of its condition;
# - createExperiment's nested variants: in a full run (the draw of seeded objects depends on
#   what ran before in the process) 5 of its 30 documents reach execution, 11 alone.
MIN_EXECUTED_ONE_OF = {"Mutation.createRiskRule": 0.1, "Mutation.createExperiment": 0.15}
TALLIES: list[Tally] = []


@pytest.fixture
async def fuzz_headers(api: Api) -> dict[str, str]:
    """Headers of every fuzzing request: an admin API key, so that every field is reachable
    and authentication runs as in production."""
    return {"authorization": f"Bearer {await staff_key(api.runtime, Role.ADMIN, 'fuzz')}"}


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Any:
    yield
    if TALLIES:
        names = ("examples", "requests", "server_errors", "internal_errors", "unmasked", "leaks")
        totals = {name: sum(getattr(t, name) for t in TALLIES) for name in names}
        print(f"\nfuzzed {len(TALLIES)} operations in this process: {totals}")  # noqa: T201


class _Causes(logging.Handler):
    """The exception behind a masked error (ErrorPolicy logs it), for the findings."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.ERROR)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.tally.cause = _describe(record.exc_info[1])


class _Lost(logging.Handler):
    """The audit log's errors: each is a mutation call that left no audit event."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        cause = _describe(record.exc_info[1]) if record.exc_info and record.exc_info[1] else ""
        self.messages.append(f"{record.getMessage()} {cause}")


def _describe(error: BaseException) -> str:
    """The exception and the innermost line of app/ that it went through."""
    frames = traceback.extract_tb(error.__traceback__)
    where = next((f for f in reversed(frames) if "/app/" in f.filename), None)
    place = f" at app/{where.filename.split('/app/')[-1]}:{where.lineno}" if where else ""
    return f"{type(error).__name__}: {str(error)[:300]}{place}"


async def test_every_root_field_is_fuzzed(api: Api, fuzz_headers: dict[str, str]) -> None:
    """The fuzzed operations are exactly the root fields that the app serves."""
    response = await api.http.post(
        "/graphql",
        json={
            "query": "{ __schema { queryType { fields { name } } "
            "mutationType { fields { name } } } }"
        },
        headers=fuzz_headers,
    )
    served = response.json()["data"]["__schema"]
    fields = {f"Query.{f['name']}" for f in served["queryType"]["fields"]} | {
        f"Mutation.{f['name']}" for f in served["mutationType"]["fields"]
    }
    assert set(OPERATIONS) == fields


@pytest.mark.parametrize("label", list(OPERATIONS))
async def test_fuzz(label: str, api: Api, fuzz_headers: dict[str, str]) -> None:
    seeded = await seed(api)
    POOL.ids[:] = seeded.ids
    POOL.strings[:] = seeded.strings
    # Schemathesis's own resource pool puts the seeded IDs of the right type into arguments
    # such as ``customerId`` (70 % of the cases). Only the seed fills it, so every run draws
    # the same documents; the IDs themselves differ from run to run.
    pool = SCHEMA.create_extra_data_source()
    for document, data in seeded.responses:
        (operation,) = graphql.parse(document).definitions
        assert isinstance(operation, graphql.OperationDefinitionNode)
        pool.capture(operation_node=operation, response_data=data)
    strategy = OPERATIONS[label].as_strategy(feedback=FeedbackSources(extra_data_source=pool))
    tally = Tally(label)
    headers = {"content-type": "application/json", **fuzz_headers}
    documents: list[tuple[str, dict[str, Any]]] = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, as_variables=st.booleans(), omit=st.integers(0, 255))
    def generate(case: Any, as_variables: bool, omit: int) -> None:
        tally.with_variables += as_variables
        documents.append(
            prepare(case.body, SCHEMA.client_schema, as_variables=as_variables, omit=omit)
        )

    started = time.perf_counter()
    await asyncio.to_thread(generate)
    tally.examples = len(documents)
    generated = time.perf_counter()
    causes = _Causes(tally)
    logging.getLogger("paygate.graphql").addHandler(causes)
    lost = _Lost()  # audit events the database refused: a mutation call the log misses
    logging.getLogger("paygate.audit").addHandler(lost)
    try:
        for document, variables in documents:
            tally.cause = None
            # json.dumps escapes lone surrogates (\ud800), as a JSON client may send them.
            body = json.dumps({"query": document, "variables": variables}).encode()
            try:
                response = await api.http.post("/graphql", content=body, headers=headers)
            except Exception as error:  # it escaped the app: a server would answer 500
                tally.judge(document, variables, 500, f"escaped the app: {_describe(error)}")
                continue
            tally.judge(document, variables, response.status_code, response.text)
    finally:
        logging.getLogger("paygate.graphql").removeHandler(causes)
        logging.getLogger("paygate.audit").removeHandler(lost)
    tally.seconds = (generated - started, time.perf_counter() - generated)
    TALLIES.append(tally)
    print(f"\n{tally.summary()}")  # noqa: T201
    if report := os.environ.get("PAYGATE_FUZZ_REPORT"):  # one JSON line per field
        with Path(report).open("a", encoding="utf-8") as lines:  # noqa: ASYNC230 (tiny)
            lines.write(json.dumps(tally.as_json()) + "\n")
    assert tally.requests == tally.examples
    least = MIN_EXECUTED_ONE_OF.get(label, MIN_EXECUTED)
    assert tally.executed >= least * tally.examples, (
        f"{label}: only {tally.executed} of {tally.examples} documents reached execution "
        f"(refused before it: {tally.request_errors} request errors)"
    )
    assert not lost.messages, f"{len(lost.messages)} audit events lost:\n" + "\n".join(
        lost.messages[:10]
    )
    assert not tally.findings, f"{len(tally.findings)} findings:\n" + "\n".join(tally.findings[:10])
