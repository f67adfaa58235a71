"""GDPR erasure of a customer: pseudonymise their personal data, keep the financial record.

One transaction erases everything we hold locally (see ``README``, "GDPR: erasure and
export"): the customer's email, name, locale and metadata; the personal details of their
payment methods (which are all detached); the free text of their payments; their values
wherever they leaked into stored webhook payloads, invoice line texts, idempotency
records and the event log (``app.services.outbox``); and cancels their subscriptions at
once, without proration. Invoices, payments, refunds, disputes, amounts, numbers and the
tax country stay (legal retention).

The same transaction marks each of the customer's PSP counterparts for deletion
(``psp_customers.deletion_requested_at``: an outbox). The PSPs are called after the commit;
a PSP that fails leaves its row pending, reported in the answer and retried by the worker's
``delete_erased_psp_customers`` job (and by erasing again) until it succeeds. So a PSP that
is down never leaves the local data half-erased, and never silently keeps the customer.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.billing import SubscriptionStatus
from app.domain.clock import Clock
from app.domain.errors import UserInputError
from app.domain.personal_data import Needles, scrub_json, scrub_optional, scrub_text
from app.domain.subscription_states import Reason, transition
from app.models import (
    Customer,
    Dispute,
    InvoiceLine,
    Payment,
    PaymentMethod,
    PspCustomer,
    Refund,
    RiskAttempt,
    Subscription,
)
from app.psp.base import DeleteCustomerRequest
from app.psp.errors import PspError
from app.psp.registry import PspRegistry, UnknownPsp
from app.services import erasure_leaks, idempotency, test_clocks
from app.services.customers import get_customer
from app.services.outbox import log as outbox_log

logger = logging.getLogger("paygate.erasure")

ENDED = (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)


@dataclass(frozen=True, slots=True)
class Erasure:
    customer: Customer
    # PSPs where the customer's deletion is still to be done (retried in the background).
    pending_psps: tuple[str, ...]


async def erase_customer(
    session: AsyncSession,
    *,
    psps: PspRegistry,
    clock: Clock,
    principal: str,
    customer_id: uuid.UUID,
    idempotency_key: str | None = None,
) -> Erasure:
    """Erase the customer's personal data (idempotent: a second erasure changes nothing
    locally and retries the PSP deletions still pending)."""
    await get_customer(session, customer_id, "customerId")
    claimed = None
    if idempotency_key is not None:
        claimed = await idempotency.claim(
            session, clock=clock, principal=principal, key=idempotency_key,
            operation="eraseCustomer", arguments={"customer": str(customer_id)},
        )  # fmt: skip
    if claimed is None or claimed.owned:
        try:
            await _erase_locally(session, customer_id, clock)
            if claimed is not None:
                key_row = await idempotency.key_row(session, claimed)
                idempotency.complete(key_row, {"customer_id": str(customer_id)}, clock)
            await session.commit()
        except UserInputError:
            if claimed is not None:
                await idempotency.abandon(session, claimed)
            raise
        except BaseException:
            if claimed is not None:
                await idempotency.release(session, claimed, clock)
            raise
    pending = await delete_at_psps(session, psps=psps, clock=clock, customer_id=customer_id)
    customer = await session.get(Customer, customer_id, populate_existing=True)
    assert customer is not None
    return Erasure(customer=customer, pending_psps=pending)


async def _erase_locally(session: AsyncSession, customer_id: uuid.UUID, clock: Clock) -> None:
    customer = await session.scalar(
        sa.select(Customer)
        .where(Customer.id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert customer is not None
    if customer.erased_at is not None:
        return  # erased before (or by a concurrent request that held the lock)
    now = clock.now()
    methods = list(
        await session.scalars(
            sa.select(PaymentMethod).where(PaymentMethod.customer_id == customer_id)
        )
    )
    needles = Needles.of(
        [customer.email, customer.name, *customer.metadata_.values(), *(m.email for m in methods)]
    )
    strong = Needles.of(
        [customer.email, customer.name, *(m.email for m in methods)]
        + [v for v in customer.metadata_.values() if len(v.strip()) >= erasure_leaks.STRONG_LENGTH]
    )
    customer.email = None
    customer.name = None
    customer.locale = None
    customer.metadata_ = {}
    customer.erased_at = now
    customer.updated_at = now
    for method in methods:
        # Brand and last 4 stay (the retained payments show what paid them); what ties the
        # card or account to the person goes: expiry, fingerprint, account email.
        method.email = None
        method.fingerprint = None
        method.exp_month = None
        method.exp_year = None
        method.is_default = False
        method.detached_at = method.detached_at or now
        method.updated_at = now
    await _cancel_subscriptions(session, customer_id, clock)
    await _scrub_money_records(session, customer_id, needles)
    await session.execute(
        sa.update(PspCustomer)
        .where(PspCustomer.customer_id == customer_id, PspCustomer.deletion_requested_at.is_(None))
        .values(deletion_requested_at=now, updated_at=now)
    )
    # The risk rules' record of its attempts keeps the decisions, not what identifies it.
    await session.execute(
        sa.update(RiskAttempt)
        .where(RiskAttempt.customer_id == customer_id)
        .values(email=None, fingerprint=None, ip_address=None, device_id=None, updated_at=now)
    )
    await erasure_leaks.scrub(
        session,
        customer_id=customer_id,
        needles=needles,
        strong=strong,
        method_references=[(m.psp, m.psp_reference) for m in methods],
        now=now,
    )
    await outbox_log.erase(session, customer_id, needles)
    logger.info("customer %s erased", customer_id)


async def _cancel_subscriptions(
    session: AsyncSession, customer_id: uuid.UUID, clock: Clock
) -> None:
    """Cancel at once, with no proration and no final invoice: nothing is billed again."""
    now = (await test_clocks.clock_of(session, customer_id, clock)).now()
    subscriptions = await session.scalars(
        sa.select(Subscription)
        .where(Subscription.customer_id == customer_id, Subscription.status.not_in(ENDED))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    for subscription in subscriptions:
        subscription.status = transition(
            subscription.status, SubscriptionStatus.CANCELED, Reason.CUSTOMER_ERASED
        )
        subscription.canceled_at = subscription.canceled_at or now
        subscription.ended_at = now
        subscription.cancel_at_period_end = False
        subscription.next_retry_at = None
        subscription.updated_at = now


async def _scrub_money_records(
    session: AsyncSession, customer_id: uuid.UUID, needles: Needles
) -> None:
    """Payments lose their caller-given free text (description, metadata); every other text
    of the retained records keeps its meaning minus the person's values."""
    payments = list(
        await session.scalars(sa.select(Payment).where(Payment.customer_id == customer_id))
    )
    for payment in payments:
        payment.description = None
        payment.metadata_ = {}
        payment.return_url = scrub_optional(payment.return_url, needles)
        payment.next_action_url = scrub_optional(payment.next_action_url, needles)
        payment.decline_message = scrub_optional(payment.decline_message, needles)
    payment_ids = sa.select(Payment.id).where(Payment.customer_id == customer_id)
    for refund in await session.scalars(
        sa.select(Refund).where(Refund.payment_id.in_(payment_ids))
    ):
        refund.failure_reason = scrub_optional(refund.failure_reason, needles)
    for dispute in await session.scalars(
        sa.select(Dispute).where(Dispute.payment_id.in_(payment_ids))
    ):
        dispute.reason = scrub_text(dispute.reason, needles)
        if dispute.evidence:  # the evidence draft names the customer (name, email, text)
            dispute.evidence = scrub_json(dispute.evidence, needles, personal_keys=True)
    for line in await session.scalars(
        sa.select(InvoiceLine).where(InvoiceLine.customer_id == customer_id)
    ):
        line.description = scrub_text(line.description, needles)


# --- deletion at the PSPs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryReport:
    deleted: int
    pending: int  # still failing, retried later


def _due(row: PspCustomer, now: datetime) -> bool:
    """Failing deletions back off: 1, 2, 4 … minutes after the last attempt, at most 1 h."""
    if row.deletion_attempts == 0:
        return True
    delay = timedelta(minutes=min(2 ** (row.deletion_attempts - 1), 60))
    return row.updated_at + delay <= now


async def delete_at_psps(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, customer_id: uuid.UUID
) -> tuple[str, ...]:
    """Delete the customer's pending PSP counterparts now; returns the PSPs still pending.
    Each outcome is committed as it comes."""
    rows = await _pending(session, PspCustomer.customer_id == customer_id)
    pending = [row.psp for row in rows if not await _delete_one(session, psps, clock, row)]
    return tuple(sorted(pending))


async def retry_psp_deletions(
    session: AsyncSession, *, psps: PspRegistry, clock: Clock, limit: int = 200
) -> RetryReport:
    """The background retry (worker job): every pending deletion whose back-off is over."""
    rows = [row for row in await _pending(session, sa.true()) if _due(row, clock.now())]
    deleted = 0
    for row in rows[:limit]:
        deleted += await _delete_one(session, psps, clock, row)
    left = await session.scalar(
        sa.select(sa.func.count()).where(
            PspCustomer.deletion_requested_at.is_not(None), PspCustomer.deleted_at.is_(None)
        )
    )
    await session.commit()
    return RetryReport(deleted=deleted, pending=int(left or 0))


async def _pending(session: AsyncSession, condition: sa.ColumnElement[bool]) -> list[PspCustomer]:
    rows = list(
        await session.scalars(
            sa.select(PspCustomer)
            .where(
                condition,
                PspCustomer.deletion_requested_at.is_not(None),
                PspCustomer.deleted_at.is_(None),
            )
            .order_by(PspCustomer.deletion_requested_at, PspCustomer.id)
            .execution_options(populate_existing=True)
        )
    )
    await session.commit()
    return rows


async def _delete_one(
    session: AsyncSession, psps: PspRegistry, clock: Clock, row: PspCustomer
) -> bool:
    references = tuple(
        await session.scalars(
            sa.select(PaymentMethod.psp_reference)
            .where(PaymentMethod.customer_id == row.customer_id, PaymentMethod.psp == row.psp)
            .order_by(PaymentMethod.created_at)
        )
    )
    error: str | None = None
    try:
        gateway = psps.get(row.psp)
        await gateway.delete_customer(DeleteCustomerRequest(row.psp_customer_id, references))
    except UnknownPsp:
        error = f"The PSP {row.psp!r} is not enabled in this process."
    except PspError as fault:
        error = f"{type(fault).__name__}: {fault}"
    values: dict[str, object] = {
        "deletion_attempts": PspCustomer.deletion_attempts + 1,
        "deletion_error": error[:500] if error else None,
        "updated_at": clock.now(),
    }
    if error is None:
        values["deleted_at"] = clock.now()
    else:
        logger.warning("deleting customer %s at %s failed: %s", row.customer_id, row.psp, error)
    await session.execute(sa.update(PspCustomer).where(PspCustomer.id == row.id).values(values))
    await session.commit()
    return error is None
