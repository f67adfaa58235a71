"""API key roles: what each may do (the README's role table; ``app/security/policy.py``
holds the rules)."""

from app.security.principals import Role

ROLE: dict[Role, str] = {
    Role.ADMIN: (
        "Everything, and alone: the catalog, tax rates, test clocks, API keys, erasure "
        "(`eraseCustomer`) and the audit log."
    ),
    Role.SUPPORT: (
        "Reads (not the audit log or keys); customers, customer sessions, payment methods, "
        "payments (capture, cancel), refunds up to `PAYGATE_AUTH__SUPPORT_REFUND_LIMIT`, "
        "subscriptions, invoices (create, finalize, pay), data exports."
    ),
    Role.FINANCE: (
        "Reads (not the audit log or keys); invoices: create, finalize, pay, void and mark "
        "uncollectible."
    ),
    Role.GROWTH: (
        "Reads without personal data (emails, names), the audit log or keys; coupons and "
        "pricing experiments."
    ),
    Role.READONLY: "Reads (not the audit log or keys); no changes.",
}
