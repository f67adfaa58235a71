"""GraphQL enums made from Python enums, with a description for every value.

The vocabulary's enums (``app/domain``, ``app/models``) are plain Python and
know nothing of GraphQL. The schema layer registers each one with strawberry and describes
it, the type and each of its values, in one call where it is registered::

    described_enum(PaymentStatus, description="…", values=enum_values.PAYMENT_STATUS)

``values`` maps every member to what it means to an API user. The mappings live in
``app/schema/enum_values/`` (one module per area); an enum defined in the schema layer
itself passes its mapping inline. To add a value to an enum: add its line to the mapping.
``tests/test_schema_contract.py`` names every value left without a description.

Strawberry (0.341) reads value descriptions only from ``strawberry.enum_value(...)`` in the
enum's class body, which a domain enum cannot use without importing strawberry; so they
are set on the enum's strawberry definition right after it is built, before the schema is
assembled from it (``app.graphql.schema`` imports the schema modules first).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

import strawberry
from strawberry.types.enum import has_enum_definition

E = TypeVar("E", bound=enum.Enum)


def described_enum(
    cls: type[E], *, description: str, values: Mapping[E, str], name: str | None = None
) -> type[E]:
    """Register ``cls`` as a GraphQL enum (named ``name``, default the class's name) with
    its description and one description per value; returns ``cls``."""
    foreign = [member for member in values if not isinstance(member, cls)]
    if foreign:
        raise TypeError(f"descriptions of {cls.__name__} given for other enums' {foreign}")
    strawberry.enum(cls, name=name, description=description)
    registered: object = cls
    assert has_enum_definition(registered)
    for value in registered.__strawberry_definition__.values:
        value.description = values.get(cls(value.value))
    return cls
