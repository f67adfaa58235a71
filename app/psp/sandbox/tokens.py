"""The sandbox's magic tokens and the cards behind them.

| token                            | behaviour                                                |
|----------------------------------|----------------------------------------------------------|
| tok_visa, tok_mastercard         | payments succeed                                         |
| tok_chargeDeclined               | fail: card_declined (generic, Visa category 4): retried  |
| tok_doNotHonor                   | fail: do_not_honor (Visa 05, category 4): retried        |
| tok_insufficientFunds            | fail: insufficient_funds (Visa 51, category 2): retried  |
| tok_issuerUnavailable            | fail: issuer_unavailable (Visa 91, category 2): retried  |
| tok_expiredCard                  | fail: expired_card (category 3): waits for the customer  |
| tok_incorrectCvc                 | fail: incorrect_cvc (category 3): waits for the customer |
| tok_lostCard                     | fail: lost_card (Visa 41, category 1): never retried     |
| tok_stolenCard                   | fail: stolen_card (Visa 43, category 1): never retried   |
| tok_pickupCard                   | fail: pickup_card (Visa 04, category 1): never retried   |
| tok_accountClosed                | fail: invalid_account (Visa 46, category 1)              |
| tok_stopPayment                  | fail: payment_stopped (Visa R1, category 1)              |
| tok_fraudulent                   | fail: fraudulent: never retried                          |
| tok_mastercardDoNotTryAgain      | fail: card_declined with Mastercard advice code 03 (do   |
|                                  | not try again): the network's advice wins, never retried |
| tok_mastercardTryAgainIn72Hours  | fail: insufficient_funds with Mastercard advice code 02: |
|                                  | retried, never sooner than 72 hours later                |
| tok_threeDSecureRequired         | on session: requires_action until the customer completes |
|                                  | 3DS; off session: fails with authentication_required     |
| tok_timeout                      | the first attempt of each payment times out *after*      |
|                                  | charging: an unknown outcome, resolved by retrieve/replay |
| tok_disputed                     | succeeds, then the cardholder disputes it (an event)     |
| tok_unavailable                  | attaching it fails: the PSP is unavailable (retryable)   |
| tok_gb, tok_de, tok_fr, tok_br,  | payments succeed; a Visa issued in that country (as      |
| tok_ca, tok_jp, tok_ng           | Stripe's cards by country); the others are US cards      |

Any of them followed by ``.`` and a label of up to 40 letters, digits or ``-``
(``tok_chargeDeclined.17``) is another card that behaves the same: a fingerprint of its
own, for tests of many cards (card testing).

Declined cards carry the issuer's response code (``networkDeclineCode``) as a network
would send it; each token is a card of its own (its own fingerprint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.domain.declines import Decline, DeclineCode


@dataclass(frozen=True, slots=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    decline: DeclineCode | None = None
    network_decline_code: str | None = None
    network_advice_code: str | None = None
    country: str = "US"  # issuing country, from the BIN


def _declined(
    last4: str, code: DeclineCode, network_code: str, brand: str = "visa", advice: str | None = None
) -> Card:
    return Card(brand, last4, 12, 2034, code, network_code, advice)


TOKENS: dict[str, Card] = {
    "tok_visa": Card("visa", "4242", 12, 2034),
    "tok_mastercard": Card("mastercard", "4444", 12, 2034),
    "tok_chargeDeclined": Card("visa", "0002", 12, 2034, DeclineCode.CARD_DECLINED),
    "tok_insufficientFunds": Card("visa", "9995", 12, 2034, DeclineCode.INSUFFICIENT_FUNDS),
    "tok_expiredCard": Card("visa", "0069", 1, 2020, DeclineCode.EXPIRED_CARD),
    "tok_incorrectCvc": Card("visa", "0127", 12, 2034, DeclineCode.INCORRECT_CVC),
    "tok_doNotHonor": _declined("0005", DeclineCode.DO_NOT_HONOR, "05"),
    "tok_issuerUnavailable": _declined("0091", DeclineCode.ISSUER_UNAVAILABLE, "91"),
    "tok_lostCard": _declined("9987", DeclineCode.LOST_CARD, "41"),
    "tok_stolenCard": _declined("9979", DeclineCode.STOLEN_CARD, "43"),
    "tok_pickupCard": _declined("0004", DeclineCode.PICKUP_CARD, "04"),
    "tok_accountClosed": _declined("0046", DeclineCode.INVALID_ACCOUNT, "46"),
    "tok_stopPayment": _declined("0081", DeclineCode.PAYMENT_STOPPED, "R1"),
    "tok_fraudulent": _declined("0019", DeclineCode.FRAUDULENT, "59"),
    "tok_mastercardDoNotTryAgain": _declined(
        "0003", DeclineCode.CARD_DECLINED, "05", "mastercard", "03"
    ),
    "tok_mastercardTryAgainIn72Hours": _declined(
        "0072", DeclineCode.INSUFFICIENT_FUNDS, "51", "mastercard", "02"
    ),
    "tok_threeDSecureRequired": Card("visa", "3220", 12, 2034),
    "tok_timeout": Card("visa", "0101", 12, 2034),
    "tok_disputed": Card("visa", "0259", 12, 2034),
    "tok_unavailable": Card("visa", "0119", 12, 2034),
    **{
        f"tok_{country.lower()}": Card("visa", last4, 12, 2034, country=country)
        for country, last4 in (
            ("GB", "0031"), ("DE", "0016"), ("FR", "0032"), ("BR", "0002"),
            ("CA", "0000"), ("JP", "0011"), ("NG", "0034"),
        )
    },
}  # fmt: skip
_LABEL = re.compile(r"[A-Za-z0-9-]{1,40}")


def card_of(token: str) -> tuple[str, Card] | None:
    """The magic token a token names (``tok_visa`` or a card like it, ``tok_visa.17``) and
    its card; None for a token the sandbox does not know."""
    base, dot, label = token.partition(".")
    card = TOKENS.get(base)
    if card is None or (dot and not _LABEL.fullmatch(label)):
        return None
    return base, card


# What the sandbox tells the customer (like Stripe's messages, the reasons networks ask not
# to disclose are a plain "declined").
DECLINE_MESSAGES = {
    DeclineCode.INSUFFICIENT_FUNDS: "Your card has insufficient funds.",
    DeclineCode.EXPIRED_CARD: "Your card has expired.",
    DeclineCode.INCORRECT_CVC: "Your card's security code is incorrect.",
    DeclineCode.AUTHENTICATION_REQUIRED: "This payment needs the customer to authenticate.",
    DeclineCode.AUTHENTICATION_FAILED: "The customer failed to authenticate.",
    DeclineCode.ISSUER_UNAVAILABLE: "Your card's issuer could not be reached; try again later.",
}


def decline(code: DeclineCode, card: Card | None = None) -> Decline:
    """The sandbox's decline of ``code`` (for ``card``: with its network's codes)."""
    return Decline(
        code,
        DECLINE_MESSAGES.get(code, "Your card was declined."),
        code.value,
        network=card.brand if card else None,
        network_decline_code=card.network_decline_code if card else None,
        network_advice_code=card.network_advice_code if card else None,
    )
