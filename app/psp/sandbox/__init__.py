"""The sandbox PSP (see ``adapter`` for its magic tokens)."""

from app.psp.sandbox.adapter import SIGNATURE_HEADER, SandboxGateway
from app.psp.sandbox.tokens import TOKENS

__all__ = ["SIGNATURE_HEADER", "TOKENS", "SandboxGateway"]
