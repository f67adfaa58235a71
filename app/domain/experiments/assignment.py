"""Deterministic assignment of units to experiments and variants.

A *unit* is who is randomised: a customer (``customer:<uuid>``) or a logged-out visitor
(``anonymous:<id>``). Buckets come from SHA-256, so that any service (or an analyst with
a spreadsheet) computes the same assignment from the same inputs:

* **Layers** make experiments mutually exclusive: ``bucket("layer:<layer>:<unit>")``
  places a unit in one of 10,000 buckets of its layer, and each experiment running in the
  layer owns a disjoint range of them, as wide as its traffic allocation. A unit is thus in
  at most one experiment per layer (Tang et al., "Overlapping experiment infrastructure",
  KDD 2010).
* **Variants** come from an independent hash with the experiment's own salt,
  ``bucket("variant:<salt>:<unit>")``, split by the variants' weights. Being in the
  experiment and the variant drawn are therefore independent, and a new salt reshuffles
  units without touching other experiments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

BUCKETS = 10_000
_ANONYMOUS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{7,127}")


def bucket(text: str) -> int:
    """A bucket in ``[0, BUCKETS)``: the first 64 bits of SHA-256, modulo 10,000 (the bias
    of the modulo is below 1e-15)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def customer_unit(customer_id: object) -> str:
    return f"customer:{customer_id}"


def anonymous_unit(anonymous_id: str) -> str:
    return f"anonymous:{anonymous_id}"


def valid_anonymous_id(value: str) -> bool:
    """A client-generated visitor id: 8 to 128 letters, digits, ``_ . : -`` (a UUID fits)."""
    return _ANONYMOUS_ID.fullmatch(value) is not None


def layer_bucket(layer: str, unit: str) -> int:
    return bucket(f"layer:{layer}:{unit}")


def in_traffic(layer: str, unit: str, offset: int, width: int) -> bool:
    """Whether ``unit`` falls in the experiment's range ``[offset, offset + width)`` of its
    layer."""
    return offset <= layer_bucket(layer, unit) < offset + width


def choose_variant(salt: str, unit: str, weights: Sequence[int]) -> int:
    """The index of the unit's variant: bucket ``b`` goes to the first variant whose
    cumulative weight share exceeds ``b / BUCKETS`` (exact integer arithmetic)."""
    if not weights or any(w <= 0 for w in weights):
        raise ValueError("weights must be positive")
    total = sum(weights)
    position = bucket(f"variant:{salt}:{unit}")
    cumulative = 0
    for index, weight in enumerate(weights):
        cumulative += weight
        if position * total < cumulative * BUCKETS:
            return index
    raise AssertionError("unreachable: the last cumulative share is 1")


def free_offset(taken: Iterable[tuple[int, int]], width: int) -> int | None:
    """The first offset where ``width`` buckets are free in a layer whose ranges
    ``(offset, width)`` are ``taken``; ``None`` when the layer is too full."""
    if not 1 <= width <= BUCKETS:
        raise ValueError("width is 1 to 10,000 buckets")
    start = 0
    for offset, size in sorted(taken):
        if offset - start >= width:
            return start
        start = max(start, offset + size)
    return start if BUCKETS - start >= width else None
