"""Saved payment methods: set-up, attach (PSP tokens only), detach, default.

PSP calls happen before any row changes and carry deterministic idempotency keys, so a
retry after a fault repeats the same PSP operation instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import validation as check
from app.domain.billing import DunningPolicy
from app.domain.clock import Clock
from app.domain.errors import ErrorCode, Problem, Problems, UserInputError
from app.domain.pan import contains_card_number
from app.domain.risk import AttemptKind, RiskAction
from app.domain.validation import NO_CARD_DATA
from app.models import Customer, PaymentMethod, PspCustomer, RiskAttempt
from app.psp.base import (
    AttachRequest,
    CustomerRequest,
    DetachRequest,
    Gateway,
    PaymentMethodDetails,
    SetupRequest,
)
from app.psp.base import SetupResult as PspSetup
from app.psp.registry import PspRegistry
from app.security.client_ip import ClientSignals
from app.services.billing import dunning
from app.services.billing.dunning import DEFAULT_POLICY
from app.services.customers import ensure_not_erased, get_customer, live_customer
from app.services.psp_calls import call, gateway
from app.services.risk import screening

_TOKEN = re.compile(r"[A-Za-z0-9_\-.:]{1,255}")


@dataclass(frozen=True, slots=True)
class Setup:
    psp: str
    setup: PspSetup


def _key(*parts: object) -> str:
    """A deterministic idempotency key for a PSP call."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"paygate-{digest}"


async def psp_customer_id(
    session: AsyncSession, *, psp: Gateway, customer: Customer, clock: Clock
) -> str:
    """The customer's id at ``psp``, created there on first use. Returns with no
    transaction open, so that none is held through the PSP calls that follow (behind a
    transaction pooler it would hold a server connection as long as they take)."""
    existing = await session.scalar(
        sa.select(PspCustomer.psp_customer_id).where(
            PspCustomer.customer_id == customer.id, PspCustomer.psp == psp.name
        )
    )
    await session.commit()  # reads only: the session keeps its objects (expire_on_commit off)
    if existing is not None:
        return existing
    created = await call(
        psp.create_customer(
            CustomerRequest(
                customer_key=str(customer.id),
                email=customer.email,
                name=customer.name,
                idempotency_key=_key("customer", customer.id, psp.name),
            )
        ),
        "customerId",
    )
    session.add(
        PspCustomer(
            customer_id=customer.id,
            psp=psp.name,
            psp_customer_id=created.psp_customer_id,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
    )
    try:
        await session.commit()
    except IntegrityError:  # a concurrent request created it first: same PSP customer
        await session.rollback()
    return created.psp_customer_id


async def start_setup(
    session: AsyncSession,
    *,
    registry: PspRegistry,
    clock: Clock,
    customer_id: uuid.UUID,
    psp: str | None,
    return_url: str | None,
    cancel_url: str | None,
    request_key: str | None = None,
) -> Setup:
    """Begin collecting a payment method at a PSP; returns what the frontend needs. With
    ``request_key`` (the caller's scoped idempotency key) the PSP call's key derives from
    it, so that a repeat reaches the same set-up, which the PSP answers again, client secret
    included: paygate never stores it (``keyed.Mode.RERUN``)."""
    problems = Problems()
    return_url = check.url(problems, return_url, "returnUrl")
    cancel_url = check.url(problems, cancel_url, "cancelUrl")
    problems.raise_if_any()
    provider = gateway(registry, psp, "psp")
    customer = await live_customer(session, customer_id, "customerId")
    psp_customer = await psp_customer_id(session, psp=provider, customer=customer, clock=clock)
    setup = await call(
        provider.start_setup(
            SetupRequest(
                psp_customer_id=psp_customer,
                return_url=return_url,
                cancel_url=cancel_url,
                idempotency_key=_key("setup", customer.id, request_key or uuid.uuid4()),
            )
        ),
        "psp",
    )
    return Setup(psp=provider.name, setup=setup)


def _check_token(token: str) -> None:
    if contains_card_number(token):
        raise UserInputError(Problem(ErrorCode.CARD_DATA_NOT_ALLOWED, NO_CARD_DATA, ("token",)))
    if not _TOKEN.fullmatch(token):
        raise UserInputError(
            Problem(
                ErrorCode.INVALID,
                "A PSP token is 1 to 255 letters, digits, '_', '-', '.' or ':'.",
                ("token",),
            )
        )


async def attach(
    session: AsyncSession,
    *,
    registry: PspRegistry,
    clock: Clock,
    customer_id: uuid.UUID,
    psp: str | None,
    token: str,
    set_default: bool,
    policy: DunningPolicy = DEFAULT_POLICY,
    signals: ClientSignals | None = None,
) -> PaymentMethod:
    """Attach a tokenised payment method. The first one becomes the default. Attaching the
    same token again returns the same payment method. A new default retries the open
    invoices of past-due and unpaid subscriptions at once (``dunning``).

    With ``signals`` (the client's), the risk rules screen the attempt before the PSP sees
    the token: a block refuses it (``RISK_BLOCKED``), and the attempt counts against its
    sources either way; the card's fingerprint joins the attempt once the PSP tells it (the
    rules that count cards per source see it from then on)."""
    _check_token(token)
    provider = gateway(registry, psp, "psp")
    customer = await live_customer(session, customer_id, "customerId")
    attempt_id = None
    if signals is not None:
        screened = await screening.screen(
            session, clock=clock, kind=AttemptKind.ATTACH, customer=customer, signals=signals
        )
        attempt_id = screened.attempt.id
        await session.commit()  # counted, whatever comes next
        if screened.action is RiskAction.BLOCK:
            raise UserInputError(
                Problem(
                    ErrorCode.RISK_BLOCKED,
                    "This payment method was refused by the risk rules.",
                    ("token",),
                )
            )
    psp_customer = await psp_customer_id(session, psp=provider, customer=customer, clock=clock)
    details = await call(
        provider.attach_payment_method(
            AttachRequest(
                psp_customer_id=psp_customer,
                token=token,
                idempotency_key=_key("attach", customer.id, provider.name, token),
            )
        ),
        "token",
    )
    try:
        method = await _save(session, customer, provider.name, details, clock)
    except IntegrityError:  # a concurrent attach of the same token saved it first
        await session.rollback()
        method = await _save(session, customer, provider.name, details, clock)
    try:
        await ensure_not_erased(session, customer.id, "customerId")
    except UserInputError:
        await session.rollback()
        raise
    if attempt_id is not None:
        await session.execute(
            sa.update(RiskAttempt)
            .where(RiskAttempt.id == attempt_id)
            .values(fingerprint=method.fingerprint, payment_method_id=method.id)
        )
    became_default = set_default or await _default_of(session, customer.id) is None
    if became_default:
        await _make_default(session, customer, method, clock)
    await session.commit()
    if became_default:
        await _retry_open_invoices(session, registry, clock, method, policy)
    return method


async def _retry_open_invoices(
    session: AsyncSession,
    registry: PspRegistry,
    clock: Clock,
    method: PaymentMethod,
    policy: DunningPolicy,
) -> None:
    customer_id, method_id = method.customer_id, method.id
    await dunning.retry_with_new_default(
        session, psps=registry, clock=clock, customer_id=customer_id,
        payment_method_id=method_id, policy=policy,
    )  # fmt: skip
    await session.refresh(method)


async def _save(
    session: AsyncSession,
    customer: Customer,
    psp: str,
    details: PaymentMethodDetails,
    clock: Clock,
) -> PaymentMethod:
    method = await session.scalar(
        sa.select(PaymentMethod)
        .where(PaymentMethod.psp == psp, PaymentMethod.psp_reference == details.psp_reference)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = clock.now()
    if method is not None and method.customer_id != customer.id:
        await session.rollback()
        raise UserInputError(
            Problem(ErrorCode.PSP_REJECTED, "This token belongs to another customer.", ("token",))
        )
    if method is None:
        method = PaymentMethod(
            customer_id=customer.id,
            psp=psp,
            psp_reference=details.psp_reference,
            is_default=False,
            created_at=now,
        )
        session.add(method)
    method.type = details.type
    method.brand = details.brand
    method.last4 = details.last4
    method.exp_month = details.exp_month
    method.exp_year = details.exp_year
    method.wallet = details.wallet
    method.fingerprint = details.fingerprint
    method.country = details.country
    method.email = details.email
    method.detached_at = None
    method.updated_at = now
    await session.flush()
    return method


async def _default_of(session: AsyncSession, customer_id: uuid.UUID) -> PaymentMethod | None:
    return await session.scalar(
        sa.select(PaymentMethod).where(
            PaymentMethod.customer_id == customer_id, PaymentMethod.is_default.is_(True)
        )
    )


async def _make_default(
    session: AsyncSession, customer: Customer, method: PaymentMethod, clock: Clock
) -> None:
    # The customer row lock serialises default changes of one customer.
    await session.execute(
        sa.select(Customer.id)
        .where(Customer.id == customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    # Row by row (there is one), so that the change states its event (the outbox).
    for previous in await session.scalars(
        sa.select(PaymentMethod)
        .where(PaymentMethod.customer_id == customer.id, PaymentMethod.id != method.id)
        .where(PaymentMethod.is_default.is_(True))
    ):
        previous.is_default = False
        previous.updated_at = clock.now()
    await session.flush()  # before the new default: one default per customer (an index)
    method.is_default = True
    await session.flush()


async def _owned_method(
    session: AsyncSession, customer_id: uuid.UUID, method_id: uuid.UUID
) -> PaymentMethod:
    method = await session.get(PaymentMethod, method_id)
    if method is None or method.customer_id != customer_id:
        # Another customer's method is indistinguishable from a missing one.
        raise UserInputError(
            Problem(ErrorCode.NOT_FOUND, "No such payment method.", ("paymentMethodId",))
        )
    return method


async def detach(
    session: AsyncSession,
    *,
    registry: PspRegistry,
    clock: Clock,
    customer_id: uuid.UUID,
    payment_method_id: uuid.UUID,
) -> PaymentMethod:
    """Detach at the PSP, then mark it detached (kept for the payments that used it)."""
    await get_customer(session, customer_id, "customerId")
    method = await _owned_method(session, customer_id, payment_method_id)
    if method.detached_at is not None:
        return method
    provider = gateway(registry, method.psp, "paymentMethodId")
    await call(
        provider.detach_payment_method(
            DetachRequest(
                psp_reference=method.psp_reference,
                idempotency_key=_key("detach", method.id),
            )
        ),
        "paymentMethodId",
    )
    method.detached_at = clock.now()
    method.is_default = False
    method.updated_at = clock.now()
    await session.commit()
    return method


async def set_default(
    session: AsyncSession,
    *,
    registry: PspRegistry,
    clock: Clock,
    customer_id: uuid.UUID,
    payment_method_id: uuid.UUID,
    policy: DunningPolicy = DEFAULT_POLICY,
) -> PaymentMethod:
    """Make a method the default; the open invoices of past-due and unpaid subscriptions
    are retried with it at once (``dunning``)."""
    customer = await live_customer(session, customer_id, "customerId")
    method = await _owned_method(session, customer_id, payment_method_id)
    if method.detached_at is not None:
        raise UserInputError(
            Problem(
                ErrorCode.PAYMENT_METHOD_DETACHED,
                "A detached payment method cannot be the default.",
                ("paymentMethodId",),
            )
        )
    await _make_default(session, customer, method, clock)
    method.updated_at = clock.now()
    await session.commit()
    await _retry_open_invoices(session, registry, clock, method, policy)
    return method
