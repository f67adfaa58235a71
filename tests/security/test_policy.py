"""Every field of the schema has a declared access policy, and the table names nothing
that does not exist: adding a field, a mutation or a type without deciding who may use
it fails here."""

from graphql import GraphQLInterfaceType, GraphQLObjectType, parse

from app.graphql.schema import schema
from app.security.policy import TYPES, VALUE_TYPES, denied_fields
from app.security.principals import Actor

GRAPHQL = schema._schema


def _object_types() -> dict[str, GraphQLObjectType | GraphQLInterfaceType]:
    return {
        name: kind
        for name, kind in GRAPHQL.type_map.items()
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType) and not name.startswith("__")
    }


def test_every_type_is_declared_once() -> None:
    types = _object_types()
    undeclared = sorted(set(types) - set(TYPES) - VALUE_TYPES)
    assert undeclared == [], f"types without a policy: {undeclared}"
    assert sorted((set(TYPES) | VALUE_TYPES) - set(types)) == [], "stale policy entries"
    assert set(TYPES) & VALUE_TYPES == set()


def test_every_field_of_roots_and_nodes_is_declared() -> None:
    types = _object_types()
    problems = []
    for name, fields in TYPES.items():
        actual = set(types[name].fields)
        if missing := sorted(actual - set(fields)):
            problems.append(f"{name}: no policy for {missing}")
        if stale := sorted(set(fields) - actual):
            problems.append(f"{name}: policy for unknown fields {stale}")
    assert problems == []


def test_every_node_type_has_field_policies() -> None:
    """Node types are reachable from many places (node(id:)): each field is decided."""
    nodes = [
        name
        for name, kind in _object_types().items()
        if isinstance(kind, GraphQLObjectType) and any(i.name == "Node" for i in kind.interfaces)
    ]
    assert nodes and all(name in TYPES for name in nodes)


def test_undeclared_fields_are_refused() -> None:
    document = parse("{ products(first: 1) { edges { node { id name } } } }")
    assert denied_fields(GRAPHQL, document, None, Actor.ANONYMOUS, introspection=True) == []
    assert denied_fields(
        GRAPHQL, parse("{ customers { totalCount } }"), None, Actor.CUSTOMER, introspection=True
    ) == ["Query.customers"]


def test_fragments_and_inline_fragments_are_walked() -> None:
    document = parse(
        """
        query Q { node(id: "x") { ...F ... on Customer { metadata } } }
        fragment F on Customer { email testClockId }
        query Other { customers { totalCount } }
        """
    )
    assert denied_fields(GRAPHQL, document, "Q", Actor.GROWTH, introspection=True) == [
        "Customer.email"
    ]
    assert denied_fields(GRAPHQL, document, "Q", Actor.CUSTOMER, introspection=True) == [
        "Customer.metadata",
        "Customer.testClockId",
    ]


def test_introspection_follows_the_setting() -> None:
    document = parse("{ __schema { types { name } } __typename }")
    assert denied_fields(GRAPHQL, document, None, Actor.ADMIN, introspection=True) == []
    assert denied_fields(GRAPHQL, document, None, Actor.ADMIN, introspection=False) == ["__schema"]
