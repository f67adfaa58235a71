"""Payment methods' vocabulary: how the frontend completes the set-up of a new method."""

from __future__ import annotations

import enum


class SetupKind(enum.Enum):
    CLIENT_SECRET = "client_secret"  # noqa: S105 - confirm in the browser with the PSP's SDK (Stripe)
    REDIRECT = "redirect"  # send the customer to approval_url (PayPal)
    TOKEN = "token"  # noqa: S105 - a token to attach directly (sandbox)
