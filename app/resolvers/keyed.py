"""Every mutation under its caller's idempotency key, wired with one call.

``mutate_keyed(info, Payload, act, input)`` runs ``act`` as ``mutate`` does, under
``input.idempotency_key`` when one is given (``app.services.keyed`` claims, runs, stores
and replays). What is stored for a replay is made from the payload itself: the objects it
carries by type and database key (re-read on a replay, so the replay is the same payload
built the same way), its user errors, plain values such as a timestamp, and never a field
marked secret (``app.schema.idempotency.secret_field``): a replay answers those null with a
``SECRET_NOT_REPLAYED`` user error.

``MODES`` says how each mutation runs under its key; ``SERVICE_KEYED`` lists those whose
service claims the key itself (money movements, with recovery points between PSP calls).
Every mutation of the schema is in one or the other (``tests/api/test_idempotency_keys.py``).
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from app import models
from app.domain.errors import ErrorCode
from app.resolvers.common import Info, mutate
from app.schema.catalog import Price, Product
from app.schema.coupons import Coupon, TaxRate
from app.schema.customer import Customer
from app.schema.errors import UserError
from app.schema.experiments import Experiment
from app.schema.idempotency import SECRET_MARK
from app.schema.invoices import CreditNote, Invoice, InvoiceLine
from app.schema.metering import Meter, UsageAlert
from app.schema.node import Node, decode_gid
from app.schema.payment import Dispute
from app.schema.payment_method import PaymentMethod
from app.schema.promotion_codes import PromotionCode
from app.schema.reviews import Review
from app.schema.risk import RiskListEntry, RiskRule
from app.schema.security import ApiKey
from app.schema.subscriptions import Subscription
from app.schema.test_clocks import TestClock
from app.schema.webhooks_out import WebhookDelivery, WebhookEndpoint
from app.services import keyed

P = TypeVar("P")

ATOMIC, PHASED, RERUN = keyed.Mode.ATOMIC, keyed.Mode.PHASED, keyed.Mode.RERUN

MODES: dict[str, keyed.Mode] = {
    "createCustomer": ATOMIC,
    "updateCustomer": ATOMIC,
    "createProduct": ATOMIC,
    "updateProduct": ATOMIC,
    "createPrice": ATOMIC,
    "archivePrice": ATOMIC,
    # The PSP replays the set-up, client secret included, under the key derived from yours.
    "startPaymentMethodSetup": RERUN,
    "attachPaymentMethod": PHASED,  # calls the PSP
    "detachPaymentMethod": PHASED,  # calls the PSP
    # A new default may retry a past-due subscription's open invoice at once (a charge).
    "setDefaultPaymentMethod": PHASED,
    "createCoupon": ATOMIC,
    "deactivateCoupon": ATOMIC,
    "createPromotionCode": ATOMIC,
    "deactivatePromotionCode": ATOMIC,
    # Read only: nothing is redeemed (a code is redeemed by createSubscription).
    "validatePromotionCode": RERUN,
    "createTaxRate": ATOMIC,
    "cancelSubscription": ATOMIC,
    "pauseSubscription": ATOMIC,
    "resumeSubscription": PHASED,  # bills the new period at once
    "createTestClock": ATOMIC,
    "advanceTestClock": PHASED,  # renewals and dunning charge
    "createInvoiceItem": ATOMIC,
    "createInvoice": ATOMIC,
    "finalizeInvoice": ATOMIC,
    "voidInvoice": ATOMIC,
    "markInvoiceUncollectible": ATOMIC,
    # Refunds through the PSP (under a key derived from the note); a rerun finds its note.
    "createCreditNote": PHASED,
    "voidCreditNote": ATOMIC,
    "createApiKey": ATOMIC,
    "revokeApiKey": ATOMIC,
    "createCustomerSession": ATOMIC,
    # Read only, and its answer is personal data, never copied into the key table.
    "exportCustomerData": RERUN,
    "createExperiment": ATOMIC,
    "updateExperiment": ATOMIC,
    "startExperiment": ATOMIC,
    "pauseExperiment": ATOMIC,
    "concludeExperiment": ATOMIC,
    "archiveExperiment": ATOMIC,
    "createWebhookEndpoint": ATOMIC,
    "updateWebhookEndpoint": ATOMIC,
    "deleteWebhookEndpoint": ATOMIC,
    "rotateWebhookEndpointSecret": ATOMIC,
    "retryWebhookDelivery": ATOMIC,
    "createMeter": ATOMIC,
    "updateMeter": ATOMIC,
    "archiveMeter": ATOMIC,
    "createUsageAlert": ATOMIC,
    "archiveUsageAlert": ATOMIC,
    "setUsageThreshold": ATOMIC,
    "createRiskRule": ATOMIC,
    "updateRiskRule": ATOMIC,
    "installDefaultRiskRules": ATOMIC,
    "addRiskListEntry": ATOMIC,
    "removeRiskListEntry": ATOMIC,
    # Captures, cancels or refunds under keys derived from the review (services/payments/reviews)
    "approveReview": PHASED,
    "rejectReview": PHASED,
    "updateDisputeEvidence": ATOMIC,
    # Calls the PSP (files, then the evidence), with keys derived from the dispute and the
    # evidence; a second run finds the dispute submitted.
    "submitDisputeEvidence": PHASED,
}

SERVICE_KEYED = frozenset(
    {
        "createPayment",
        "confirmPayment",
        "capturePayment",
        "cancelPayment",
        "createRefund",
        "createSubscription",
        "updateSubscription",
        "payInvoice",
        "eraseCustomer",
        "recordUsage",  # each usage event carries its own key (services/metering/ingest.py)
    }
)

# Objects a stored result names, by type: how to read one again and build it.
_REREAD: dict[str, tuple[type[Any], Callable[[Any], Any]]] = {
    "Customer": (models.Customer, Customer.from_model),
    "Product": (models.Product, Product.from_model),
    "Price": (models.Price, Price.from_model),
    "PaymentMethod": (models.PaymentMethod, PaymentMethod.from_model),
    "Coupon": (models.Coupon, Coupon.from_model),
    "PromotionCode": (models.PromotionCode, PromotionCode.from_model),
    "TaxRate": (models.TaxRate, TaxRate.from_model),
    "Subscription": (models.Subscription, Subscription.from_model),
    "TestClock": (models.TestClock, TestClock.from_model),
    "Invoice": (models.Invoice, Invoice.from_model),
    "InvoiceLine": (models.InvoiceLine, lambda row: InvoiceLine.from_model(row, row.currency)),
    "CreditNote": (models.CreditNote, CreditNote.from_model),
    "ApiKey": (models.ApiKey, ApiKey.from_model),
    "Experiment": (models.Experiment, Experiment.from_model),
    "WebhookEndpoint": (models.WebhookEndpoint, WebhookEndpoint.from_model),
    "WebhookDelivery": (models.WebhookDelivery, WebhookDelivery.from_model),
    "Meter": (models.Meter, Meter.from_model),
    "UsageAlert": (models.UsageAlert, UsageAlert.from_model),
    "RiskRule": (models.RiskRule, RiskRule.from_model),
    "RiskListEntry": (models.RiskListEntry, RiskListEntry.from_model),
    "Review": (models.Review, Review.from_model),
    "Dispute": (models.Dispute, Dispute.from_model),
}


async def mutate_keyed(
    info: Info, payload: type[P], action: Callable[[AsyncSession], Awaitable[P]], input: Any
) -> P:
    """``mutate``, once per idempotency key: a repeat replays the first payload."""
    key = getattr(input, "idempotency_key", None)
    if key is None:
        return await mutate(info, payload, action)
    request = keyed.Request(
        principal=info.context.principal.scope,
        key=key,
        operation=info.field_name,
        arguments=canonical(input),
    )

    async def once(session: AsyncSession) -> P:
        ran = await keyed.run(
            session,
            clock=info.context.clock,
            request=request,
            mode=MODES[info.field_name],
            action=action,
            record=record,
        )
        built = (
            cast(P, ran.result)  # the action's own payload
            if ran.replay is None
            else await replay(session, payload, ran.replay)
        )
        if session.in_transaction():  # a replay's reads (or a rerun's): end them
            await session.commit()
        return built

    return await mutate(info, payload, once)


def canonical(value: Any, *, top: bool = True) -> Any:
    """An input as plain JSON, for its fingerprint: omitted fields left out, and the key
    itself too (it names the request, it is not part of it)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: canonical(getattr(value, f.name), top=False)
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
            and not (top and f.name == "idempotency_key")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): canonical(v, top=False) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v, top=False) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot fingerprint a {type(value).__name__} input")


def _fields(payload: type[Any]) -> list[Any]:
    definition: Any = getattr(payload, "__strawberry_definition__")  # noqa: B009
    return list(definition.fields)


def _ref(value: Any) -> list[str]:
    key: Any
    if isinstance(value, Node):
        type_name, key = decode_gid(str(value.id))
    else:
        type_name, key = type(value).__name__, getattr(value, "key", None)
    if type_name not in _REREAD or not isinstance(key, uuid.UUID):
        raise TypeError(f"a {type(value).__name__} cannot be read again for a replay")
    return [type_name, str(key)]


def record(payload: Any) -> dict[str, Any]:
    """What a replay needs of ``payload``: its objects' keys, values, user errors; which
    secrets it held (their names, never their values)."""
    objects: dict[str, Any] = {}
    values: dict[str, Any] = {}
    withheld: list[str] = []
    errors: list[dict[str, Any]] = []
    for field in _fields(type(payload)):
        name = field.python_name
        value = getattr(payload, name)
        if name == "user_errors":
            errors = [{"field": e.field, "code": e.code.value, "message": e.message} for e in value]
        elif field.metadata.get(SECRET_MARK):
            if value is not None:
                withheld.append(field.graphql_name or strawberry_name(name))
        elif value is None:
            values[name] = None
        elif isinstance(value, list):
            objects[name] = {"many": [_ref(item) for item in value]}
        elif isinstance(value, datetime):
            values[name] = {"datetime": value.isoformat()}
        elif isinstance(value, str | int | bool) and not isinstance(value, enum.Enum):
            values[name] = {"value": value}
        else:
            objects[name] = {"one": _ref(value)}
    return {"objects": objects, "values": values, "userErrors": errors, "withheld": withheld}


def strawberry_name(python_name: str) -> str:
    head, *rest = python_name.split("_")
    return head + "".join(part.title() for part in rest)


async def _read(session: AsyncSession, ref: list[str]) -> Any:
    model, build = _REREAD[ref[0]]
    row = await session.get(model, uuid.UUID(ref[1]), populate_existing=True)
    return None if row is None else build(row)


async def replay(session: AsyncSession, payload: type[P], stored: dict[str, Any]) -> P:
    """The payload of a stored result: its objects read again, its user errors, and a
    ``SECRET_NOT_REPLAYED`` error for each secret the first answer showed."""
    objects, values = stored.get("objects", {}), stored.get("values", {})
    errors = [
        UserError(field=e["field"], code=ErrorCode(e["code"]), message=e["message"])
        for e in stored.get("userErrors", [])
    ]
    errors.extend(
        UserError(
            field=["input", "idempotencyKey"],
            code=ErrorCode.SECRET_NOT_REPLAYED,
            message=f"A replay of a completed request: `{name}` was shown in its first "
            "response only and is not stored. If that response was lost, send the request "
            "again with a new idempotency key (for an API key, revoke the first one).",
        )
        for name in stored.get("withheld", [])
    )
    built: dict[str, Any] = {}
    for field in _fields(payload):
        name = field.python_name
        if name == "user_errors":
            built[name] = errors
        elif name in objects:
            stored_object = objects[name]
            if "many" in stored_object:
                built[name] = [await _read(session, ref) for ref in stored_object["many"]]
            else:
                built[name] = await _read(session, stored_object["one"])
        elif isinstance(values.get(name), dict):
            value = values[name]
            built[name] = (
                datetime.fromisoformat(value["datetime"]) if "datetime" in value else value["value"]
            )
        else:
            built[name] = None  # a secret, or nothing
    return payload(**built)
