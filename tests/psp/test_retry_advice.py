"""Retry advice follows the card networks: the table of codes, the networks' advice codes,
and what Stripe passes on (decline_code, advice_code, network_decline_code,
network_advice_code). The expected values are written from the networks' and Stripe's
documentation (cited in the README's retry advice table), not read from the code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.declines import (
    RULES,
    DeclineCode,
    NetworkCategory,
    RetryAdvice,
    advise,
    customer_action,
    retry_wait,
)
from app.domain.dunning import CustomerAction
from app.psp.stripe.mappers import DECLINE_CODES, decline_of

D = DeclineCode
R, S, C = RetryAdvice.RETRY_LATER, RetryAdvice.DO_NOT_RETRY, RetryAdvice.CUSTOMER_ACTION_REQUIRED

# Visa: category 1 never reattempted; 2 and 4 reattempted within the caps; 3 revalidated by
# the customer first (Visa's Excessive Reattempts rule, as Worldpay and Checkout.com list
# the codes: 04 07 12 14 15 41 43 46 57 R0 R1 R3 are category 1; 51 61 65 91 96 19 59 62
# category 2; 54 82 N7 category 3; 05 and the rest category 4).
VISA = {
    D.LOST_CARD: (NetworkCategory.NEVER_APPROVE, S),
    D.STOLEN_CARD: (NetworkCategory.NEVER_APPROVE, S),
    D.LOST_OR_STOLEN: (NetworkCategory.NEVER_APPROVE, S),
    D.PICKUP_CARD: (NetworkCategory.NEVER_APPROVE, S),
    D.INVALID_ACCOUNT: (NetworkCategory.NEVER_APPROVE, S),
    D.INCORRECT_NUMBER: (NetworkCategory.NEVER_APPROVE, S),
    D.CARD_NOT_SUPPORTED: (NetworkCategory.NEVER_APPROVE, S),
    D.PAYMENT_STOPPED: (NetworkCategory.NEVER_APPROVE, S),
    D.DO_NOT_TRY_AGAIN: (NetworkCategory.NEVER_APPROVE, S),
    D.INSUFFICIENT_FUNDS: (NetworkCategory.CANNOT_APPROVE_NOW, R),
    D.LIMIT_EXCEEDED: (NetworkCategory.CANNOT_APPROVE_NOW, R),
    D.ISSUER_UNAVAILABLE: (NetworkCategory.CANNOT_APPROVE_NOW, R),
    D.TRY_AGAIN_LATER: (NetworkCategory.CANNOT_APPROVE_NOW, R),
    D.EXPIRED_CARD: (NetworkCategory.DATA_QUALITY, C),
    D.INCORRECT_CVC: (NetworkCategory.DATA_QUALITY, C),
    D.CARD_DECLINED: (NetworkCategory.GENERIC, R),
    D.DO_NOT_HONOR: (NetworkCategory.GENERIC, R),
}


@pytest.mark.parametrize(("code", "expected"), sorted(VISA.items(), key=lambda i: i[0].value))
def test_the_advice_of_each_network_category(
    code: DeclineCode, expected: tuple[NetworkCategory, RetryAdvice]
) -> None:
    rule = RULES[code]
    assert (rule.category, rule.advice) == expected


def test_every_code_has_a_rule_with_a_source_and_category_one_is_never_retried() -> None:
    assert set(RULES) == set(DeclineCode)
    assert all(rule.source and rule.summary for rule in RULES.values())
    never = [code for code, rule in RULES.items() if rule.category is NetworkCategory.NEVER_APPROVE]
    assert never and all(RULES[code].advice is S for code in never)


def test_unknown_is_never_retried_blindly_but_does_not_condemn_the_card() -> None:
    assert RULES[D.UNKNOWN].advice is C
    assert advise(D.UNKNOWN, "02", "mastercard") is R  # the network's advice decides
    assert advise(D.UNKNOWN, "03", "mastercard") is S


# Mastercard's merchant advice codes (and Visa's advice codes for recurring payments), as
# PayPal and Braintree document them.
@pytest.mark.parametrize(
    ("network", "advice_code", "advice", "wait"),
    [
        ("mastercard", "01", C, None),  # new account information available
        ("mastercard", "02", R, timedelta(hours=72)),  # try again later (72 hours)
        ("mastercard", "03", S, None),  # do not try again
        ("mastercard", "21", S, None),  # payment cancellation
        ("mastercard", "24", R, timedelta(hours=1)),
        ("mastercard", "25", R, timedelta(hours=24)),
        ("mastercard", "26", R, timedelta(days=2)),
        ("mastercard", "27", R, timedelta(days=4)),
        ("mastercard", "28", R, timedelta(days=6)),
        ("mastercard", "29", R, timedelta(days=8)),
        ("mastercard", "30", R, timedelta(days=10)),
        ("visa", "02", S, None),  # stop this payment
        ("visa", "03", S, None),  # stop all recurring payments
        ("visa", "21", S, None),
        (None, "02", S, None),  # network unknown: the cautious reading of "02"
        (None, "03", S, None),
        ("mastercard", "40", R, None),  # no retry advice: the code's own
        ("visa", "24", R, None),  # Mastercard's code: no meaning for Visa
    ],
)
def test_network_advice_codes_on_a_generic_decline(
    network: str | None, advice_code: str, advice: RetryAdvice, wait: timedelta | None
) -> None:
    found = advise(D.CARD_DECLINED, advice_code, network)
    assert found is advice
    if network == "mastercard":
        assert retry_wait(advice_code, found) == wait


@given(
    code=st.sampled_from(DeclineCode),
    advice_code=st.one_of(st.none(), st.sampled_from(["01", "02", "03", "04", "21", "24", "30"])),
    network=st.sampled_from([None, "visa", "mastercard", "amex"]),
    provider=st.one_of(st.none(), st.sampled_from(RetryAdvice)),
)
def test_never_from_any_source_wins(
    code: DeclineCode, advice_code: str | None, network: str | None, provider: RetryAdvice | None
) -> None:
    advice = advise(code, advice_code, network, provider)
    said_never = (
        RULES[code].advice is S
        or provider is S
        or (advice_code in {"03", "21"})
        or (advice_code == "02" and network != "mastercard")
    )
    assert (advice is S) == said_never
    action = customer_action(code, advice)
    assert isinstance(action, CustomerAction)
    if advice is S:
        assert action is CustomerAction.ADD_PAYMENT_METHOD


# Stripe's decline codes whose meaning the networks' categories decide (docs.stripe.com
# /declines/codes), written out here rather than read from the mapper.
STRIPE = {
    "generic_decline": D.CARD_DECLINED,
    "do_not_honor": D.DO_NOT_HONOR,
    "call_issuer": D.DO_NOT_HONOR,
    "insufficient_funds": D.INSUFFICIENT_FUNDS,
    "issuer_not_available": D.ISSUER_UNAVAILABLE,
    "try_again_later": D.TRY_AGAIN_LATER,
    "reenter_transaction": D.TRY_AGAIN_LATER,
    "lost_card": D.LOST_CARD,
    "stolen_card": D.STOLEN_CARD,
    "pickup_card": D.PICKUP_CARD,
    "restricted_card": D.RESTRICTED_CARD,
    "invalid_account": D.INVALID_ACCOUNT,
    "new_account_information_available": D.INVALID_ACCOUNT,
    "stop_payment_order": D.PAYMENT_STOPPED,
    "revocation_of_authorization": D.PAYMENT_STOPPED,
    "revocation_of_all_authorizations": D.PAYMENT_STOPPED,
    "do_not_try_again": D.DO_NOT_TRY_AGAIN,
    "fraudulent": D.FRAUDULENT,
    "merchant_blacklist": D.FRAUDULENT,
    "expired_card": D.EXPIRED_CARD,
    "incorrect_cvc": D.INCORRECT_CVC,
    "transaction_not_allowed": D.CARD_NOT_SUPPORTED,
}


@pytest.mark.parametrize(("stripe_code", "ours"), sorted(STRIPE.items()))
def test_stripe_decline_codes(stripe_code: str, ours: DeclineCode) -> None:
    assert DECLINE_CODES[stripe_code] is ours
    decline = decline_of({"code": "card_declined", "decline_code": stripe_code, "message": "No"})
    assert (decline.code, decline.provider_code) == (ours, stripe_code)


def _stripe_error(**fields: object) -> dict[str, object]:
    """A last_payment_error as Stripe documents it (API 2024-12-18.acacia and later)."""
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "generic_decline",
        "message": "Your card was declined.",
        "payment_method": {"id": "pm_1", "object": "payment_method", "card": {"brand": "visa"}},
        **fields,
    }


def test_stripe_network_codes_are_kept() -> None:
    decline = decline_of(_stripe_error(network_decline_code="05", network_advice_code="03"))
    assert (decline.code, decline.network, decline.network_decline_code) == (
        D.CARD_DECLINED,
        "visa",
        "05",
    )
    assert decline.network_advice_code == "03"
    assert decline.advice is S  # "do not try again" outranks a generic decline


@pytest.mark.parametrize(
    ("advice_code", "advice"),
    [("do_not_try_again", S), ("confirm_card_data", C), ("try_again_later", R), (None, R)],
)
def test_stripe_advice_code_refines_a_generic_decline(
    advice_code: str | None, advice: RetryAdvice
) -> None:
    decline = decline_of(_stripe_error(advice_code=advice_code))
    assert decline.advice is advice


def test_stripe_advice_code_never_makes_a_never_retry_decline_retried() -> None:
    decline = decline_of(_stripe_error(decline_code="stolen_card", advice_code="try_again_later"))
    assert (decline.code, decline.advice) == (D.STOLEN_CARD, S)


def test_a_mastercard_retry_after_code_sets_the_least_wait() -> None:
    error = _stripe_error(
        decline_code="insufficient_funds",
        network_advice_code="27",
        payment_method={"card": {"brand": "mastercard"}},
    )
    decline = decline_of(error)
    assert decline.advice is R
    assert retry_wait(decline.network_advice_code, decline.advice) == timedelta(days=4)
