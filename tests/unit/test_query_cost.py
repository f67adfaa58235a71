"""The cost estimate (``app.security.cost``) of documents, without a database: page sizes
(literal, variables, defaults), lists at their counted size, fragments, inline fragments,
aliases, merged fields, @skip/@include, abstract types, introspection, and the cache."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    get_introspection_query,
    get_named_type,
    graphql_sync,
    is_leaf_type,
    parse,
)

from app.domain.currencies import CURRENCIES
from app.graphql.schema import schema
from app.resolvers.nodes import MAX_NODES
from app.security.cost import LIST_SIZES, CostAnalysis, Estimate
from app.services.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PRICES = LIST_SIZES["Product.prices"].count
LINES = LIST_SIZES["Invoice.lines"].count


@pytest.fixture
def analysis() -> CostAnalysis:
    return CostAnalysis(schema._schema)


def cost(
    analysis: CostAnalysis,
    document: str,
    variables: dict[str, Any] | None = None,
    operation: str | None = None,
) -> int:
    estimate = analysis.estimate(document, operation, variables)
    assert estimate is not None
    return estimate.cost


def products(first: int, per_node: int) -> int:
    """The root, the connection, and per edge: the edge, its node and what hangs off it."""
    return 1 + 1 + first * (2 + per_node)


def test_every_list_of_objects_has_a_counted_size() -> None:
    """A new list field without an entry would be counted at the unknown size silently."""
    missing = []
    for type_ in schema._schema.type_map.values():
        if type_.name.startswith("__") or not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            kind: Any = field.type
            if isinstance(kind, GraphQLNonNull):
                kind = kind.of_type
            if not isinstance(kind, GraphQLList) or is_leaf_type(get_named_type(kind)):
                continue
            key = f"{type_.name}.{name}"
            if name not in ("edges", "userErrors") and key not in LIST_SIZES:
                missing.append(key)
    assert missing == []
    assert set(LIST_SIZES) <= {
        f"{t.name}.{f}"
        for t in schema._schema.type_map.values()
        if isinstance(t, GraphQLObjectType)
        for f in t.fields
    }


def test_enforced_sizes_are_the_enforced_maxima() -> None:
    assert LIST_SIZES["Query.nodes"].maximum == MAX_NODES
    assert LIST_SIZES["Query.currencies"].count == len(CURRENCIES)
    assert LIST_SIZES["Customer.invoices"].maximum == MAX_PAGE_SIZE


def test_pages_count_their_size_and_lists_their_counted_size(analysis: CostAnalysis) -> None:
    assert cost(analysis, "{ __typename }") == 1
    assert cost(analysis, "{ products(first: 5) { edges { node { id } } } }") == products(5, 0)
    assert cost(analysis, "{ products { edges { node { id } } } }") == products(
        DEFAULT_PAGE_SIZE, 0
    )
    # out of range: refused when it runs; counted at the bounds meanwhile
    assert cost(analysis, "{ products(first: 1000) { edges { cursor } } }") == 2 + MAX_PAGE_SIZE
    assert cost(analysis, "{ products(first: -3) { edges { cursor } } }") == 2
    # a list without a page argument: its counted size, and money objects count too
    document = "{ products(first: 3) { edges { node { prices { unitAmount { amount } } } } } }"
    assert cost(analysis, document) == products(3, PRICES * 2)
    # totalCount is a COUNT: one; pageInfo an object
    assert cost(analysis, "{ products(first: 0) { totalCount pageInfo { hasNextPage } } }") == 4


def test_arguments_that_bound_a_list(analysis: CostAnalysis) -> None:
    last = "query($n: Int) { viewer { invoices(last: $n) { lines { description } } } }"
    assert cost(analysis, last, {"n": 2}) == 1 + 1 + 2 * (1 + LINES)
    counted = LIST_SIZES["Customer.invoices"].count
    assert cost(analysis, last, {}) == 1 + 1 + counted * (1 + LINES)
    assert cost(analysis, last, {"n": 10_000}) == 1 + 1 + MAX_PAGE_SIZE * (1 + LINES)
    nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    assert cost(analysis, nodes, {"ids": ["a", "b", "c"]}) == 1 + 3
    assert cost(analysis, '{ nodes(ids: ["a", "b"]) { id } }') == 1 + 2


def test_page_sizes_from_variables_and_their_defaults(analysis: CostAnalysis) -> None:
    document = "query($n: Int = 7) { products(first: $n) { edges { cursor } } }"
    assert cost(analysis, document) == 2 + 7
    assert cost(analysis, document, {"n": 3}) == 2 + 3
    assert cost(analysis, document, {"n": None}) == 2 + DEFAULT_PAGE_SIZE
    assert cost(analysis, document, {"n": "many"}) == 2 + MAX_PAGE_SIZE


def test_aliases_count_each_and_fields_of_one_name_merge(analysis: CostAnalysis) -> None:
    one = "products(first: 2) { edges { node { prices { id } } } }"
    assert cost(analysis, f"{{ a: {one} b: {one} }}") == 1 + 2 * (products(2, PRICES) - 1)
    merged = (
        "{ products(first: 2) { edges { node { prices { id } } } } "
        "products(first: 2) { edges { node { prices { active } } } } }"
    )
    assert cost(analysis, merged) == products(2, PRICES)


def test_fragments_and_inline_fragments(analysis: CostAnalysis) -> None:
    plain = "{ products(first: 4) { edges { node { id prices { unitAmount { amount } } } } } }"
    spread = (
        "query { products(first: 4) { edges { node { ...P } } } } "
        "fragment P on Product { id ... on Product { prices { ...M } } } "
        "fragment M on Price { unitAmount { amount } }"
    )
    assert cost(analysis, spread) == cost(analysis, plain) == products(4, PRICES * 2)
    # a fragment on another type applies to nothing here
    other = (
        "query { products(first: 4) { edges { node { id ...on Node { ... on Price "
        "{ unitAmount { amount } } } } } } }"
    )
    assert cost(analysis, other) == products(4, 0)


def test_abstract_types_count_their_most_expensive_type(analysis: CostAnalysis) -> None:
    document = (
        'query { node(id: "x") { id ... on Product { prices { id } } '
        "... on Invoice { lines { description } payments { refunds { id } } } } }"
    )
    payments = LIST_SIZES["Invoice.payments"].count
    refunds = LIST_SIZES["Payment.refunds"].count
    invoice = LINES + payments * (1 + refunds)
    assert cost(analysis, document) == 1 + 1 + max(PRICES, invoice)


def test_skip_and_include(analysis: CostAnalysis) -> None:
    document = (
        "query($skip: Boolean!, $with: Boolean = false) { products(first: 10) { edges { node "
        "{ prices @skip(if: $skip) { id } ...More @include(if: $with) } } } } "
        "fragment More on Product { defaultPrice { id } }"
    )
    assert cost(analysis, document, {"skip": True}) == products(10, 0)
    assert cost(analysis, document, {"skip": False}) == products(10, PRICES)
    assert cost(analysis, document, {"skip": True, "with": True}) == products(10, 1)
    # undecidable (no boolean): counted as included
    assert cost(analysis, document, {"skip": "yes"}) == products(10, PRICES)
    assert cost(analysis, "{ a: products(first: 3) @include(if: false) { totalCount } }") == 1


def test_the_operation_named_is_the_one_counted(analysis: CostAnalysis) -> None:
    document = (
        "query Small { products(first: 1) { totalCount } } "
        "query Large { products(first: 100) { edges { node { prices { id } } } } }"
    )
    assert cost(analysis, document, operation="Small") == 3
    assert cost(analysis, document, operation="Large") == products(100, PRICES)
    assert analysis.estimate(document, None, {}) is None  # which one? execution refuses it
    assert analysis.estimate("{ nope", None, {}) is None
    mutation = 'mutation { createCustomer(input: {name: "x"}) { customer { id } } }'
    estimate = analysis.estimate(mutation, None, {})
    assert estimate is not None and not estimate.query and estimate.cost == 3


def test_introspection_is_cheap_but_not_free_and_nesting_multiplies(
    analysis: CostAnalysis,
) -> None:
    full = get_introspection_query(descriptions=True)
    result = graphql_sync(schema._schema, full)
    assert result.errors is None

    def objects(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + sum(objects(v) for v in value.values())
        if isinstance(value, list):
            return sum(objects(v) for v in value)
        return 0

    made = objects(result.data)
    estimate = cost(analysis, full)
    assert made <= estimate <= 5 * made  # the estimate bounds it, loosely
    assert cost(analysis, "{ __schema { queryType { name } } }") == 3
    flat = "{ __schema { types { fields { type { name } } } } }"
    nested = "{ __schema { types { fields { type { fields { type { name } } } } } } }"
    assert cost(analysis, nested) > 2 * cost(analysis, flat)


def test_an_estimate_is_made_once_per_document_and_values_read(
    analysis: CostAnalysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks = []
    walk = analysis._walk
    monkeypatch.setattr(analysis, "_walk", lambda *a: walks.append(a) or walk(*a))
    static = "{ products(first: 3) { edges { node { prices { id } } } } }"
    for _ in range(3):
        cost(analysis, static, {"unused": 1})
    assert len(walks) == 1
    dynamic = "query($n: Int, $other: String) { products(first: $n) { edges { cursor } } }"
    for n in (1, 2, 1, 2):
        assert cost(analysis, dynamic, {"n": n, "other": str(n * 7)}) == 2 + n
    assert len(walks) == 3  # only the variables the estimate reads key it


def test_a_parsed_document_is_known_by_its_identity(
    analysis: CostAnalysis, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = []
    prepare = analysis._prepare
    monkeypatch.setattr(analysis, "_prepare", lambda *a: prepared.append(a) or prepare(*a))
    text = "{ products(first: 3) { edges { cursor } } }"
    document = parse(text)
    for _ in range(3):
        assert analysis.estimate(text, None, {}, document) == Estimate(5, query=True)
    assert len(prepared) == 1
    another = parse(text)  # ParserCache evicted it: the same text parsed again
    assert analysis.estimate(text, None, {}, another) == Estimate(5, query=True)
    assert len(prepared) == 2
