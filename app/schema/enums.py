"""Descriptions of the values of enums defined outside the schema (domain and PSP enums,
made GraphQL enums with ``strawberry.enum``): GraphiQL shows them beside each value."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, TypeVar

E = TypeVar("E", bound=enum.Enum)


def describe_values(cls: type[E], descriptions: Mapping[E, str]) -> type[E]:
    """Describe the values of ``cls``, already passed to ``strawberry.enum``."""
    definition: Any = getattr(cls, "__strawberry_definition__")  # noqa: B009 - set by strawberry
    for value in definition.values:
        member = cls[value.name]
        if member in descriptions:
            value.description = descriptions[member]
    return cls
