"""PayPal JSON -> our types, every status and code case plus an explicit unknown.

The mappers read PayPal's documented JSON (Orders v2, Payments v2, Vault v3, Disputes,
webhook resources) as plain dicts: the same shapes arrive from API responses and inside
webhook events. A status we do not know is a ``PspBadResponse``, never a guess.

Our payment reference is the PayPal **order id**: it is stable from creation to refund,
and captures, authorizations and refunds are found under it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from app.domain.declines import Decline
from app.domain.errors import UserInputError
from app.domain.money import Money, parse_money
from app.domain.payments import PaymentStatus, RefundStatus
from app.psp.base import (
    NextAction,
    NextActionKind,
    PaymentMethodDetails,
    PaymentResult,
    RefundResult,
)
from app.psp.errors import OperationNotSupported, PspBadResponse, PspInvalidRequest
from app.psp.paypal.declines import transaction_decline

PSP = "paypal"
Json = dict[str, Any]
T = TypeVar("T")

# Currencies PayPal accepts for payments (REST "currency codes" reference); HUF and TWD
# have cents in ISO 4217 but PayPal refuses decimals for them, as for JPY.
CURRENCIES = frozenset(
    [
        "AUD",
        "BRL",
        "CAD",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "HKD",
        "HUF",
        "ILS",
        "JPY",
        "MYR",
        "MXN",
        "TWD",
        "NZD",
        "NOK",
        "PHP",
        "PLN",
        "GBP",
        "SGD",
        "SEK",
        "CHF",
        "THB",
        "USD",
    ]
)
WHOLE_UNITS_ONLY = frozenset({"HUF", "TWD"})

# --- statuses ------------------------------------------------------------------------------

# Order status alone; COMPLETED is refined by the order's captures/authorizations.
# APPROVED/SAVED: the payer is done, we still have to capture/authorize (confirm_payment).
ORDER_STATUS: dict[str, PaymentStatus] = {
    "CREATED": PaymentStatus.REQUIRES_ACTION,
    "SAVED": PaymentStatus.REQUIRES_ACTION,
    "APPROVED": PaymentStatus.REQUIRES_ACTION,
    "PAYER_ACTION_REQUIRED": PaymentStatus.REQUIRES_ACTION,
    "VOIDED": PaymentStatus.CANCELED,
    "COMPLETED": PaymentStatus.SUCCEEDED,
}
CAPTURE_STATUS: dict[str, PaymentStatus] = {
    "COMPLETED": PaymentStatus.SUCCEEDED,
    "PENDING": PaymentStatus.PROCESSING,
    "DECLINED": PaymentStatus.FAILED,
    "REFUNDED": PaymentStatus.SUCCEEDED,  # refunds are separate objects of ours
    "PARTIALLY_REFUNDED": PaymentStatus.SUCCEEDED,
    "FAILED": PaymentStatus.FAILED,
}
AUTHORIZATION_STATUS: dict[str, PaymentStatus] = {
    "CREATED": PaymentStatus.REQUIRES_CAPTURE,
    "CAPTURED": PaymentStatus.SUCCEEDED,
    "PARTIALLY_CAPTURED": PaymentStatus.SUCCEEDED,
    "VOIDED": PaymentStatus.CANCELED,
    "DENIED": PaymentStatus.FAILED,
    "PENDING": PaymentStatus.PROCESSING,
    "EXPIRED": PaymentStatus.CANCELED,
}
REFUND_STATUS: dict[str, RefundStatus] = {
    "COMPLETED": RefundStatus.SUCCEEDED,
    "PENDING": RefundStatus.PENDING,
    "FAILED": RefundStatus.FAILED,
    "CANCELLED": RefundStatus.CANCELED,
}
_CAPTURED = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED")
_CAPTURABLE = ("CREATED", "PARTIALLY_CAPTURED")


def lookup(table: Mapping[str, T], raw: object, what: str) -> T:
    """``table[raw]``, or a PspBadResponse naming what PayPal sent that we do not know."""
    if isinstance(raw, str) and raw in table:
        return table[raw]
    raise PspBadResponse(f"PayPal sent an unknown {what}: {raw!r}.", psp=PSP)


# --- primitives ------------------------------------------------------------------------------


def money(amount: object) -> Money:
    """``{"currency_code": "USD", "value": "12.30"}`` -> exact Money (never a float)."""
    if not isinstance(amount, Mapping):
        raise PspBadResponse("PayPal sent no amount where one was expected.", psp=PSP)
    value, currency = amount.get("value"), amount.get("currency_code")
    if not isinstance(value, str) or not isinstance(currency, str):
        raise PspBadResponse("PayPal sent a malformed amount.", psp=PSP)
    try:
        return parse_money(value, currency, allow_negative=True)
    except UserInputError as error:
        raise PspBadResponse(
            f"PayPal sent an unreadable amount: {value!r} {currency}.", psp=PSP
        ) from error


def amount_json(amount: Money) -> dict[str, str]:
    """Money -> PayPal's amount object; whole units only for HUF and TWD."""
    if amount.currency not in CURRENCIES:
        raise OperationNotSupported(
            f"PayPal does not support {amount.currency}.", psp=PSP, code="currency_not_supported"
        )
    value = amount.decimal_string()
    if amount.currency in WHOLE_UNITS_ONLY:
        whole, _, cents = value.partition(".")
        if cents.strip("0"):
            raise PspInvalidRequest(
                f"PayPal takes whole {amount.currency} amounts only.",
                psp=PSP,
                code="amount_precision",
            )
        value = whole
    return {"currency_code": amount.currency, "value": value}


def timestamp(value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise PspBadResponse(f"PayPal sent an unreadable time: {value!r}.", psp=PSP)


def link(resource: Mapping[str, Any], *rels: str) -> str | None:
    """The href of the first HATEOAS link with one of ``rels``."""
    for item in resource.get("links") or ():
        if isinstance(item, Mapping) and item.get("rel") in rels:
            href = item.get("href")
            return href if isinstance(href, str) else None
    return None


def ident(resource: Mapping[str, Any], what: str) -> str:
    value = resource.get("id")
    if not isinstance(value, str) or not value:
        raise PspBadResponse(f"PayPal sent a {what} without an id.", psp=PSP)
    return value


def related_order_id(resource: Mapping[str, Any]) -> str | None:
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    order_id = related.get("order_id")
    return order_id if isinstance(order_id, str) else None


# --- payments ------------------------------------------------------------------------------


def _payments(order: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[Json], list[Json]]:
    units = order.get("purchase_units")
    if not isinstance(units, list) or not units or not isinstance(units[0], Mapping):
        raise PspBadResponse("PayPal sent an order without a purchase unit.", psp=PSP)
    payments = units[0].get("payments") or {}
    return (
        units[0],
        list(payments.get("captures") or []),
        list(payments.get("authorizations") or []),
    )


def payment_from_order(order: Mapping[str, Any]) -> PaymentResult:
    """A snapshot of an order: status from its latest capture or authorization."""
    reference = ident(order, "order")
    raw = order.get("status")
    status = lookup(ORDER_STATUS, raw, "order status")
    unit, captures, authorizations = _payments(order)
    amount = money(unit.get("amount"))
    zero = Money(0, amount.currency)
    received = sum((money(c.get("amount")) for c in captures if c.get("status") in _CAPTURED), zero)
    settled = sum(
        (money(c.get("amount")) for c in captures if c.get("status") in (*_CAPTURED, "PENDING")),
        zero,
    )
    capturable = zero
    for authorization in authorizations:
        if authorization.get("status") in _CAPTURABLE:
            capturable += money(authorization.get("amount"))
    capturable = capturable - settled if capturable.amount_minor > settled.amount_minor else zero
    next_action = None
    result_decline = None
    if raw == "COMPLETED":
        transactions = captures or authorizations
        if not transactions or not isinstance(transactions[-1], Mapping):
            raise PspBadResponse("PayPal sent a completed order without a payment.", psp=PSP)
        newest = transactions[-1]
        table = CAPTURE_STATUS if captures else AUTHORIZATION_STATUS
        status = lookup(table, newest.get("status"), "capture/authorization status")
        raw = f"COMPLETED/{newest.get('status')}"
        if status is PaymentStatus.FAILED:
            result_decline = transaction_decline(newest, _card_brand(order))
    elif status is PaymentStatus.REQUIRES_ACTION:
        url = link(order, "payer-action", "approve")
        if url is not None:
            next_action = NextAction(kind=NextActionKind.REDIRECT, redirect_url=url)
    return PaymentResult(
        psp_reference=reference,
        status=status,
        amount=amount,
        amount_capturable=capturable,
        amount_received=received,
        next_action=next_action,
        decline=result_decline,
        raw_status=str(raw),
    )


def _card_brand(order: Mapping[str, Any]) -> str | None:
    brand = ((order.get("payment_source") or {}).get("card") or {}).get("brand")
    return brand if isinstance(brand, str) and brand else None


def declined_payment(reference: str, amount: Money, decline_: Decline, raw: str) -> PaymentResult:
    """A payment PayPal refused with a 422 decline issue (``reference`` may be empty when
    PayPal created no order)."""
    zero = Money(0, amount.currency)
    return PaymentResult(
        psp_reference=reference,
        status=PaymentStatus.FAILED,
        amount=amount,
        amount_capturable=zero,
        amount_received=zero,
        decline=decline_,
        raw_status=raw,
    )


def latest(order: Mapping[str, Any], kind: str, statuses: tuple[str, ...]) -> Json | None:
    """The newest capture/authorization of an order in one of ``statuses``."""
    _, captures, authorizations = _payments(order)
    items = captures if kind == "captures" else authorizations
    for item in reversed(items):
        if item.get("status") in statuses:
            return item
    return None


def with_transaction(order: Mapping[str, Any], kind: str, transaction: Json) -> Json:
    """A copy of ``order`` with ``transaction`` (a capture or authorization answered by the
    Payments API) added or replaced, so one snapshot mapper serves every operation."""
    updated: Json = copy.deepcopy(dict(order))
    payments = updated["purchase_units"][0].setdefault("payments", {})
    items = [t for t in payments.get(kind) or [] if t.get("id") != transaction.get("id")]
    payments[kind] = [*items, transaction]
    return updated


# --- refunds and payment methods ----------------------------------------------------------


def refund_capture_id(refund: Mapping[str, Any]) -> str | None:
    """The capture a refund belongs to (its ``up`` link)."""
    href = link(refund, "up")
    return href.rstrip("/").rsplit("/", 1)[-1] if href else None


def refund_from(refund: Mapping[str, Any], payment_reference: str) -> RefundResult:
    status = lookup(REFUND_STATUS, refund.get("status"), "refund status")
    reason = (refund.get("status_details") or {}).get("reason")
    return RefundResult(
        psp_reference=ident(refund, "refund"),
        payment_reference=payment_reference,
        status=status,
        amount=money(refund.get("amount")),
        failure_reason=reason if isinstance(reason, str) else None,
        raw_status=str(refund.get("status")),
    )


def payment_method_from(token: Mapping[str, Any]) -> PaymentMethodDetails:
    """A vault payment token -> safe details: a PayPal account (email) or a card."""
    reference = ident(token, "payment token")
    source = token.get("payment_source") or {}
    if isinstance(source.get("paypal"), Mapping):
        paypal = source["paypal"]
        return PaymentMethodDetails(
            psp_reference=reference,
            type="paypal",
            email=paypal.get("email_address"),
            fingerprint=paypal.get("payer_id"),  # one PayPal account, one payer id
        )
    if isinstance(source.get("venmo"), Mapping):
        venmo = source["venmo"]
        return PaymentMethodDetails(
            psp_reference=reference, type="venmo", email=venmo.get("email_address")
        )
    if isinstance(source.get("card"), Mapping):
        card = source["card"]
        year, month = _expiry(card.get("expiry"))
        brand = card.get("brand")
        return PaymentMethodDetails(
            psp_reference=reference,
            type="card",
            brand=brand.lower() if isinstance(brand, str) else None,
            last4=card.get("last_digits"),
            exp_month=month,
            exp_year=year,
        )
    raise PspBadResponse("PayPal sent a payment token of an unknown type.", psp=PSP)


def _expiry(value: object) -> tuple[int | None, int | None]:
    """``"2027-02"`` -> (2027, 2)."""
    if isinstance(value, str):
        year, _, month = value.partition("-")
        if year.isdigit() and month.isdigit():
            return int(year), int(month)
    return None, None
