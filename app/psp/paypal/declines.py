"""PayPal's decline codes onto ours: the issues of a 422 that is a decline, the card
processor's response codes, and the network's payment advice code.

The processor response codes and their meanings are PayPal's "processor response codes"
reference (paypal-server-sdk ``ProcessorResponseCode``, whose notes say which codes must
not be retried with the same card: 5150, 5180, 9500, 9520); the advice codes are PayPal's
``processor_response.payment_advice_code`` (``PaymentAdviceCode``: Mastercard's merchant
advice codes, and Visa's for recurring payments), read in ``app.domain.declines``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.declines import Decline, DeclineCode

# details[].issue of a 422 that is a decline (data), not a fault. Any other issue of a
# 4xx answer is a PspInvalidRequest.
ISSUE_DECLINES: dict[str, DeclineCode] = {
    "INSTRUMENT_DECLINED": DeclineCode.INSTRUMENT_DECLINED,
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": DeclineCode.INSTRUMENT_DECLINED,
    "PAYER_ACTION_REQUIRED": DeclineCode.PAYER_ACTION_REQUIRED,
    "TRANSACTION_REFUSED": DeclineCode.CARD_DECLINED,
    # "payer and payee settings mean this buyer cannot pay this seller": no retry helps
    "PAYER_CANNOT_PAY": DeclineCode.CARD_NOT_SUPPORTED,
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": DeclineCode.INVALID_ACCOUNT,
    "PAYER_ACCOUNT_RESTRICTED": DeclineCode.RESTRICTED_CARD,
    "CARD_EXPIRED": DeclineCode.EXPIRED_CARD,
    "TRANSACTION_BLOCKED_BY_PAYEE": DeclineCode.FRAUDULENT,
    "TRANSACTION_LIMIT_EXCEEDED": DeclineCode.LIMIT_EXCEEDED,
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": DeclineCode.LIMIT_EXCEEDED,
}
# processor_response.response_code of a declined card capture/authorization, by our code.
_BY_PROCESSOR_CODE: dict[DeclineCode, str] = {
    DeclineCode.CARD_DECLINED: "10BR 1393 5100 5930 9540",
    DeclineCode.DO_NOT_HONOR: "0100 0500 0580 5160 9530",
    DeclineCode.INSUFFICIENT_FUNDS: "5120",
    DeclineCode.LIMIT_EXCEEDED: "5710 PPAX PPEL",
    DeclineCode.ISSUER_UNAVAILABLE: "0960 5920",
    DeclineCode.TRY_AGAIN_LATER: "9100",
    DeclineCode.PROCESSING_ERROR: "0880 8000 8110 8220",
    DeclineCode.RESTRICTED_CARD: "1352 PPAB",
    DeclineCode.FRAUDULENT: "9500 9510",
    DeclineCode.EXPIRED_CARD: "1380 5400 PPEF PPEX",
    DeclineCode.INCORRECT_CVC: "00N7 1382 5110 PCVV PPC2",
    DeclineCode.LOST_OR_STOLEN: "9520",
    DeclineCode.PICKUP_CARD: "5150",
    # account not found, invalid, closed, not on file, or replaced by an updated card
    DeclineCode.INVALID_ACCOUNT: "0390 1330 1335 5140 5180 5950 6300 PP06",
    DeclineCode.CARD_NOT_SUPPORTED: "1312 5210 5700 7800 PPCT",
    DeclineCode.CURRENCY_NOT_SUPPORTED: "1320 PPCU PPUC",
    # "reattempt not permitted", "issuer not available, not retriable", and the network's
    # frequency limit reached
    DeclineCode.DO_NOT_TRY_AGAIN: "5910 PPNL PPRN",
    DeclineCode.AUTHENTICATION_REQUIRED: "5650",
    DeclineCode.AUTHENTICATION_FAILED: "7700 7710 PPD3",
}
PROCESSOR_DECLINES: dict[str, DeclineCode] = {
    code: ours for ours, codes in _BY_PROCESSOR_CODE.items() for code in codes.split()
}
# A declined/denied/failed transaction that carries no processor code.
STATUS_DECLINES: dict[str, DeclineCode] = {
    "DECLINED": DeclineCode.CARD_DECLINED,
    "DENIED": DeclineCode.CARD_DECLINED,
    "FAILED": DeclineCode.PROCESSING_ERROR,
}
_DECLINES = {**ISSUE_DECLINES, **PROCESSOR_DECLINES, **STATUS_DECLINES}


def decline(provider_code: str, message: str) -> Decline:
    """A decline from one of PayPal's codes; a code we do not know is ``UNKNOWN``."""
    code = _DECLINES.get(provider_code, DeclineCode.UNKNOWN)
    return Decline(code=code, message=message, provider_code=provider_code)


def transaction_decline(transaction: Mapping[str, Any], network: str | None = None) -> Decline:
    """Why a capture was DECLINED/FAILED or an authorization DENIED, with the network's
    advice code when PayPal passes it on (``network``: the card's brand, when known)."""
    response = transaction.get("processor_response") or {}
    processor = response.get("response_code")
    if isinstance(processor, str) and processor != "0000":
        found = decline(processor, f"The card issuer declined the payment (code {processor}).")
    else:
        status = str(transaction.get("status"))
        found = decline(status, f"PayPal reported the payment as {status}.")
    advice = response.get("payment_advice_code")
    return Decline(
        found.code,
        found.message,
        found.provider_code,
        network=network.lower() if network else None,
        network_advice_code=advice if isinstance(advice, str) and advice else None,
    )
