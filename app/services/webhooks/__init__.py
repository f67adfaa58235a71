"""What the PSPs tell us: inbound webhooks (verified, stored, deduplicated) and
reconciliation (asking the PSPs about unknown outcomes). Both apply what they learn through
the payments ledger (``app.services.payments``); nothing in payments imports this package."""
