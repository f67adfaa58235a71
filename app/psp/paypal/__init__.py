"""PayPal (Orders v2, Payments v2, Vault v3) through paypal-server-sdk."""

from app.psp.paypal.adapter import PayPalGateway

__all__ = ["PayPalGateway"]
