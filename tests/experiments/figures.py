"""The figures the statistical tests show, printed with ``pytest -s``."""

from __future__ import annotations


def report(title: str, **figures: object) -> None:
    lines = [f"\n[figures] {title}"] + [f"  {name}: {value}" for name, value in figures.items()]
    print("\n".join(lines), flush=True)  # noqa: T201
