"""The sandbox's magic tokens and the cards behind them (see the adapter's table)."""

from __future__ import annotations

from dataclasses import dataclass

from app.psp.declines import DeclineCode


@dataclass(frozen=True, slots=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    decline: DeclineCode | None = None


TOKENS: dict[str, Card] = {
    "tok_visa": Card("visa", "4242", 12, 2034),
    "tok_mastercard": Card("mastercard", "4444", 12, 2034),
    "tok_chargeDeclined": Card("visa", "0002", 12, 2034, DeclineCode.CARD_DECLINED),
    "tok_insufficientFunds": Card("visa", "9995", 12, 2034, DeclineCode.INSUFFICIENT_FUNDS),
    "tok_expiredCard": Card("visa", "0069", 1, 2020, DeclineCode.EXPIRED_CARD),
    "tok_incorrectCvc": Card("visa", "0127", 12, 2034, DeclineCode.INCORRECT_CVC),
    "tok_threeDSecureRequired": Card("visa", "3220", 12, 2034),
    "tok_timeout": Card("visa", "0101", 12, 2034),
    "tok_disputed": Card("visa", "0259", 12, 2034),
    "tok_unavailable": Card("visa", "0119", 12, 2034),
}
DECLINE_MESSAGES = {
    DeclineCode.CARD_DECLINED: "Your card was declined.",
    DeclineCode.INSUFFICIENT_FUNDS: "Your card has insufficient funds.",
    DeclineCode.EXPIRED_CARD: "Your card has expired.",
    DeclineCode.INCORRECT_CVC: "Your card's security code is incorrect.",
    DeclineCode.AUTHENTICATION_REQUIRED: "This payment needs the customer to authenticate.",
    DeclineCode.AUTHENTICATION_FAILED: "The customer failed to authenticate.",
}
