"""Payments: one-off payments and what follows them, refunds, and the ledger that applies
what the PSPs report.

Inside, imports run one way: ``outcomes`` (shared types) and ``ledger`` (row locks, merges,
event rows, the settlement of refunds and disputes) at the bottom; ``reports`` (PSP reports
stored as events, applied once their payment is known) above them; the operations
(``create``, ``actions``, ``refunds``) on top. Payments never import billing: when a
payment of an invoice succeeds, the ledger states ``InvoicePaymentSucceeded``
(``app.services.events``) and billing's handler marks the invoice paid.
"""
