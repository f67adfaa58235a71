"""Stripe, through the official ``stripe`` SDK (client.py is the only module calling it)."""

from app.psp.stripe.adapter import StripeGateway

__all__ = ["StripeGateway"]
