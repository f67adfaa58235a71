"""The README reads true: its links lead somewhere, and its configuration table names every
setting the code reads."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md"]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: dict[str, int] = {}
    names = set()
    for line in _FENCE.sub("", text).splitlines():
        if line.startswith("#"):
            name = slug(line.lstrip("#"))
            count = found.get(name, 0)
            found[name] = count + 1
            names.add(name if count == 0 else f"{name}-{count}")
    return names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_somewhere(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    broken = []
    for target in _LINK.findall(_FENCE.sub("", text)):
        if target.startswith(("http://", "https://", "mailto:")) or target == "...":
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists() or (
            anchor
            and file.suffix == ".md"
            and anchor not in anchors(file.read_text(encoding="utf-8"))
        ):
            broken.append(target)
    assert broken == []


def _variables(model: Any, prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        nested = getattr(field.annotation, "model_fields", None)
        if nested is not None:
            yield from _variables(field.annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def test_the_configuration_table_names_every_setting() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Configuration") : text.index("### The `paygate` command")]
    missing = [v for v in _variables(Settings, "PAYGATE_") if f"`{v}`" not in table]
    assert missing == []


def test_every_cli_command_is_documented() -> None:
    from app.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    assert [c for c in commands if f"`paygate {c}" not in text] == []


def _architecture() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("## Architecture\n", 1)[1].split("\n## ", 1)[0]


def test_the_architecture_section_lists_the_contract_s_layers_in_order() -> None:
    """The README's layers are the import contract's (``pyproject.toml``), in its order."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    expected = [layer.replace("app.", "") for layer in layers]
    section = " ".join(_architecture().split())
    listed = section.split("top to bottom ", 1)[1].split(";", 1)[0]
    assert re.findall(r"`([^`]+)`", listed) == expected


def test_the_architecture_section_names_paths_that_exist() -> None:
    """Every ``app/...`` path the section (and its diagram) names is in the tree."""
    paths = set(re.findall(r"\bapp/[\w/.]*\w", _architecture()))
    assert paths, "the section names no path"
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
