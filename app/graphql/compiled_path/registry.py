"""Trusted documents: the GraphQL documents paygate's own frontends send, registered as
files under ``app/graphql/compiled_path/documents/*.graphql`` (shipped with the package;
another directory with ``PAYGATE_TRUSTED_DOCUMENTS_DIR``) and identified by the SHA-256 of
their text.

A document's text is its file's content without trailing whitespace; its identifier is
``sha256:<hex>`` of that text in UTF-8. Clients send ``{"documentId": "sha256:<hex>"}``,
Apollo's ``extensions.persistedQuery.sha256Hash``, or the exact text as ``query``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DOCUMENTS_DIR = Path(__file__).resolve().parent / "documents"


@dataclass(frozen=True, slots=True)
class TrustedDocument:
    name: str  # the file's stem
    text: str
    sha256: str  # hex

    @property
    def document_id(self) -> str:
        return f"sha256:{self.sha256}"


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_documents(directory: Path | None = None) -> list[TrustedDocument]:
    """Every ``*.graphql`` file of ``directory`` (default: the package's), by name."""
    directory = DOCUMENTS_DIR if directory is None else directory
    if not directory.is_dir():
        raise FileNotFoundError(f"no trusted documents directory {directory}")
    found = []
    for path in sorted(directory.glob("*.graphql")):
        text = path.read_text(encoding="utf-8").rstrip()
        found.append(TrustedDocument(path.stem, text, document_hash(text)))
    return found
