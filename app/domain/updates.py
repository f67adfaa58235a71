"""A marker for "leave this field as it is" in partial updates, distinct from ``None``."""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias


class _Keep(enum.Enum):
    KEEP = "KEEP"


KEEP = _Keep.KEEP
Keep: TypeAlias = Literal[_Keep.KEEP]
