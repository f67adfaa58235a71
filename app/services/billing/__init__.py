"""Billing: subscriptions and their changes, invoices, renewals, dunning, coupons and taxes.

Inside, imports run one way: ``coupons`` and ``retry_guard`` at the bottom, then
``promotion_codes`` (redemptions and the checkout's validation; ``promotion_catalog`` is
the staff's side), then
``invoices`` (which collects an invoice with a payment of ``app.services.payments``),
``dunning``, ``renewals``, and on top what callers ask for (``subscriptions``, ``changes``,
``invoice_actions``). ``settlement`` marks an invoice paid when payments state that its
payment succeeded; it is a leaf that only ``app.wiring`` imports. Every change of a
subscription's status goes through ``app.domain.subscription_states``.
"""
