"""Load the bench data set (``peer/seed.sql``, database ``bench_payments``) into paygate's own
schema, so that paygate and the peer serve the same logical data.

    .venv/bin/python bench/load_paygate.py            # ~30 s; skipped when already current
    .venv/bin/python bench/load_paygate.py --force    # reload

1. reads every row of ``bench_payments`` (seeded by ``run.sh`` from ``peer/seed.sql``);
2. drops and creates the target database (default ``bench_paygate``), owned by the target
   DSN's user, and migrates it with paygate's own migrations (alembic head);
3. maps the rows to paygate's tables (:func:`transform`) and writes them with binary COPY;
4. ``VACUUM ANALYZE``, and marks the database with the seed's and this loader's digests and
   the migration head, so that the next run skips an identical load.

The mapping (bench id N -> paygate key: ``bench_ids.py``), table by table:

- customers (10,000) -> customers: email, name, country; the preferred currency (paygate's
  customers have none) and the bench id go to ``metadata``.
- payment_methods (~20k) -> payment_methods: sandbox PSP, reference ``pm_bench_N``; brand,
  last4, expiry, default.
- products (5), prices (20) -> products, prices: recurring; currency upper-case (``USD``).
- subscriptions (~15k) -> subscriptions, plus one subscription_items row each holding the
  price and quantity (paygate's subscriptions have items); anchor = created_at; canceled
  ones ended when canceled.
- invoices (~178k) -> invoices: number, status, period, due date kept; subtotal = total =
  amount_due (no discount, no tax: ``total = subtotal - discount + tax`` holds);
  amount_paid kept; billing reason ``subscription_create`` for the first period, else
  ``subscription_cycle``.
- invoice_line_items (~356k) -> invoice_lines, with the invoice's customer, subscription,
  currency and period; the plan's line points at the subscription item.
- refunds (~9k) -> payments (~9k) + refunds (~9k): paygate's refunds belong to payments, so
  each refunded (paid) invoice gets the succeeded payment that paid it.

Money stays integer minor units; every CHECK constraint of paygate's models holds (the load
runs with them all, and with the foreign keys).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncpg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ids import bench_key, invoice_key  # noqa: E402

Row = Mapping[str, Any]
Source = Mapping[str, Sequence[Row]]
Tables = dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]

# What is read from bench_payments, in id order.
SOURCE_QUERIES = {
    "customers": "SELECT id, email, name, country, currency, created_at FROM customers",
    "payment_methods": (
        "SELECT id, customer_id, type, card_brand, card_last4, exp_month, exp_year, is_default, "
        "created_at FROM payment_methods"
    ),
    "products": "SELECT id, name, description, active, created_at FROM products",
    "prices": (
        "SELECT id, product_id, nickname, currency, unit_amount, billing_interval, interval_count, "
        "active, created_at FROM prices"
    ),
    "subscriptions": (
        "SELECT id, customer_id, price_id, status, quantity, current_period_start, "
        "current_period_end, cancel_at_period_end, canceled_at, created_at FROM subscriptions"
    ),
    "invoices": (
        "SELECT id, number, customer_id, subscription_id, status, currency, amount_due, "
        "amount_paid, period_start, period_end, due_date, created_at FROM invoices"
    ),
    "invoice_line_items": (
        "SELECT id, invoice_id, price_id, description, quantity, unit_amount, amount "
        "FROM invoice_line_items"
    ),
    "refunds": "SELECT id, invoice_id, amount, currency, reason, status, created_at FROM refunds",
}

# Paygate's tables in foreign-key order, with the columns written.
COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("id", "created_at", "updated_at", "name", "description", "active", "metadata",
                 "features"),
    "prices": ("id", "created_at", "updated_at", "product_id", "currency", "unit_amount_minor",
               "type", "recurring_interval", "recurring_interval_count", "trial_period_days",
               "active", "lookup_key", "nickname", "metadata"),
    "customers": ("id", "created_at", "updated_at", "email", "name", "country", "locale",
                  "metadata"),
    "payment_methods": ("id", "created_at", "updated_at", "customer_id", "psp", "psp_reference",
                        "type", "brand", "last4", "exp_month", "exp_year", "is_default"),
    "subscriptions": ("id", "created_at", "updated_at", "customer_id", "status", "currency",
                      "interval", "interval_count", "billing_cycle_anchor",
                      "current_period_start", "current_period_end", "cancel_at_period_end",
                      "canceled_at", "ended_at", "retry_count"),
    "subscription_items": ("id", "created_at", "updated_at", "subscription_id", "price_id",
                           "quantity", "unit_amount_minor"),
    "invoices": ("id", "created_at", "updated_at", "customer_id", "subscription_id",
                 "billing_period_start", "billing_reason", "number", "status", "currency",
                 "period_start", "period_end", "subtotal_minor", "discount_minor", "tax_minor",
                 "tax_included_minor", "total_minor", "amount_paid_minor", "attempt_count",
                 "due_date", "finalized_at", "paid_at", "voided_at"),
    "invoice_lines": ("id", "created_at", "updated_at", "invoice_id", "customer_id",
                      "subscription_id", "currency", "description", "price_id",
                      "subscription_item_id", "quantity", "unit_amount_minor", "amount_minor",
                      "discount_minor", "tax_minor", "tax_included_minor", "proration",
                      "period_start", "period_end"),
    "payments": ("id", "created_at", "updated_at", "customer_id", "payment_method_id",
                 "invoice_id", "psp", "psp_reference", "psp_idempotency_key", "status",
                 "capture_method", "off_session", "currency", "amount_minor",
                 "amount_capturable_minor", "amount_received_minor", "amount_refunded_minor",
                 "metadata"),
    "refunds": ("id", "created_at", "updated_at", "payment_id", "psp", "psp_reference",
                "psp_idempotency_key", "status", "reason", "currency", "amount_minor"),
}  # fmt: skip

EMPTY = "{}"  # JSONB documents are written as JSON text


def transform(src: Source) -> Tables:
    """Paygate's rows for a bench data set: table -> (columns, rows). Pure: the tests run
    it on small bench-shaped data sets."""
    out: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    key = bench_key

    for p in src["products"]:
        out["products"].append((key("product", p["id"]), p["created_at"], p["created_at"],
                                p["name"], p["description"], p["active"], EMPTY, "[]"))  # fmt: skip
    price_of: dict[int, Row] = {}
    for p in src["prices"]:
        price_of[p["id"]] = p
        out["prices"].append((
            key("price", p["id"]), p["created_at"], p["created_at"],
            key("product", p["product_id"]), p["currency"].upper(), p["unit_amount"],
            "recurring", p["billing_interval"], p["interval_count"], None, p["active"], None,
            p["nickname"], EMPTY,
        ))  # fmt: skip
    for c in src["customers"]:
        metadata = json.dumps({"bench_id": str(c["id"]), "currency": c["currency"].upper()})
        out["customers"].append((key("customer", c["id"]), c["created_at"], c["created_at"],
                                 c["email"], c["name"], c["country"], None, metadata))  # fmt: skip
    default_method: dict[int, uuid.UUID] = {}
    for m in src["payment_methods"]:
        method = key("payment_method", m["id"])
        if m["is_default"]:
            default_method[m["customer_id"]] = method
        out["payment_methods"].append((
            method, m["created_at"], m["created_at"], key("customer", m["customer_id"]),
            "sandbox", f"pm_bench_{m['id']}", m["type"], m["card_brand"], m["card_last4"],
            m["exp_month"], m["exp_year"], m["is_default"],
        ))  # fmt: skip
    subscription_of: dict[int, Row] = {}
    for s in src["subscriptions"]:
        subscription_of[s["id"]] = s
        price = price_of[s["price_id"]]
        created = s["created_at"]
        out["subscriptions"].append((
            key("subscription", s["id"]), created, created, key("customer", s["customer_id"]),
            s["status"], price["currency"].upper(), price["billing_interval"],
            price["interval_count"], created, s["current_period_start"],
            s["current_period_end"], s["cancel_at_period_end"], s["canceled_at"],
            s["canceled_at"] if s["status"] == "canceled" else None, 0,
        ))  # fmt: skip
        out["subscription_items"].append((
            key("subscription_item", s["id"]), created, created, key("subscription", s["id"]),
            key("price", s["price_id"]), s["quantity"], price["unit_amount"],
        ))  # fmt: skip
    invoice_of: dict[int, Row] = {}
    invoice_keys: dict[int, uuid.UUID] = {}
    for i in src["invoices"]:
        invoice_of[i["id"]] = i
        invoice = invoice_keys[i["id"]] = invoice_key(i["id"], i["created_at"])
        sub = subscription_of.get(i["subscription_id"]) if i["subscription_id"] else None
        if sub is None:
            reason, period = "manual", None
        elif i["period_start"] == sub["created_at"]:
            reason, period = "subscription_create", i["period_start"]
        else:
            reason, period = "subscription_cycle", i["period_start"]
        status, created, total = i["status"], i["created_at"], i["amount_due"]
        out["invoices"].append((
            invoice, created, created, key("customer", i["customer_id"]),
            key("subscription", sub["id"]) if sub else None, period, reason, i["number"],
            status, i["currency"].upper(), i["period_start"], i["period_end"],
            total, 0, 0, 0, total, i["amount_paid"], 0 if status == "void" else 1,
            i["due_date"], created, created if status == "paid" else None,
            created if status == "void" else None,
        ))  # fmt: skip
    for li in src["invoice_line_items"]:
        i = invoice_of[li["invoice_id"]]
        sub = subscription_of.get(i["subscription_id"]) if i["subscription_id"] else None
        plan_line = sub is not None and li["price_id"] == sub["price_id"]
        out["invoice_lines"].append((
            key("invoice_line", li["id"]), i["created_at"], i["created_at"],
            invoice_keys[i["id"]], key("customer", i["customer_id"]),
            key("subscription", sub["id"]) if sub else None, i["currency"].upper(),
            li["description"], key("price", li["price_id"]) if li["price_id"] else None,
            key("subscription_item", sub["id"]) if sub and plan_line else None,
            li["quantity"], li["unit_amount"], li["amount"], 0, 0, 0, False,
            i["period_start"], i["period_end"],
        ))  # fmt: skip
    refunded: dict[int, int] = defaultdict(int)
    for r in src["refunds"]:
        if r["status"] in ("pending", "succeeded"):  # reserved against the payment
            refunded[r["invoice_id"]] += r["amount"]
    paid_by: dict[int, uuid.UUID] = {}
    for r in src["refunds"]:
        i = invoice_of[r["invoice_id"]]
        if i["id"] not in paid_by:
            payment = paid_by[i["id"]] = key("payment", i["id"])
            out["payments"].append((
                payment, i["created_at"], i["created_at"], key("customer", i["customer_id"]),
                default_method.get(i["customer_id"]), invoice_keys[i["id"]], "sandbox",
                f"pay_bench_{i['id']}", f"bench-payment-{i['id']}", "succeeded", "automatic",
                True, i["currency"].upper(), i["amount_paid"], 0, i["amount_paid"],
                refunded[i["id"]], EMPTY,
            ))  # fmt: skip
        out["refunds"].append((
            key("refund", r["id"]), r["created_at"], r["created_at"], paid_by[i["id"]],
            "sandbox", f"re_bench_{r['id']}", f"bench-refund-{r['id']}", r["status"],
            r["reason"], r["currency"].upper(), r["amount"],
        ))  # fmt: skip
    return {table: (columns, out[table]) for table, columns in COLUMNS.items()}


async def read_source(connection: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    return {
        table: await connection.fetch(f"{query} ORDER BY id")
        for table, query in SOURCE_QUERIES.items()
    }


async def write(connection: asyncpg.Connection, tables: Tables) -> dict[str, int]:
    """COPY the rows in, in foreign-key order; returns the row count of each table."""
    counts = {}
    for table, (columns, rows) in tables.items():
        if rows:
            await connection.copy_records_to_table(table, records=rows, columns=columns)
        counts[table] = len(rows)
    return counts


def _dsn_with_database(dsn: str, database: str) -> str:
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{database}"


def log(message: str) -> None:
    print(f"load_paygate: {message}", file=sys.stderr)  # noqa: T201


def loader_digest() -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for name in ("load_paygate.py", "bench_ids.py"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()


async def main(args: argparse.Namespace) -> int:
    from app.migrations import head_revisions, upgrade_to_head

    database = args.dsn.rpartition("/")[2].split("?")[0]
    source = await asyncpg.connect(args.source_dsn)
    try:
        seed = await source.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
        if not seed or not seed.startswith("bench-seed:"):
            log(f"{args.source_dsn} is not seeded (run.sh seeds it)")
            return 2
        url = "postgresql+asyncpg://" + args.dsn.split("://", 1)[1]
        heads = ",".join(sorted(head_revisions(url)))
        marker = f"bench-paygate:{seed}:loader-{loader_digest()}:{heads}"
        admin = await asyncpg.connect(args.admin_dsn)
        try:
            current = await admin.fetchval(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
                database,
            )
            if current == marker and not args.force:
                log(f"{database} is current ({marker})")
                return 0
            started = time.perf_counter()
            owner = await asyncpg.connect(_dsn_with_database(args.dsn, "postgres"))
            user = await owner.fetchval("SELECT current_user")
            await owner.close()
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}" OWNER "{user}"')
        finally:
            await admin.close()
        await asyncio.to_thread(upgrade_to_head, url)
        migrated = time.perf_counter()
        rows = await read_source(source)
    finally:
        await source.close()
    read = time.perf_counter()
    tables = transform(rows)
    del rows
    mapped = time.perf_counter()
    target = await asyncpg.connect(args.dsn)
    try:
        async with target.transaction():
            counts = await write(target, tables)
        written = time.perf_counter()
        await target.execute("VACUUM (ANALYZE)")
        await target.execute(f"COMMENT ON DATABASE \"{database}\" IS '{marker}'")
    finally:
        await target.close()
    done = time.perf_counter()
    log(
        f"{database} loaded in {done - started:.1f} s (migrate "
        f"{migrated - started:.1f}, read {read - migrated:.1f}, map {mapped - read:.1f}, "
        f"COPY {written - mapped:.1f}, vacuum {done - written:.1f}): "
        + ", ".join(f"{table} {count:,}" for table, count in counts.items())
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source-dsn", default="postgresql://bench:bench@127.0.0.1:5432/bench_payments"
    )
    parser.add_argument(
        "--dsn",
        default="postgresql://bench:bench@127.0.0.1:5432/bench_paygate",
        help="target database (dropped and created again, owned by this user)",
    )
    parser.add_argument(
        "--admin-dsn",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a role that may create and drop databases",
    )
    parser.add_argument("--force", action="store_true", help="reload even when current")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
