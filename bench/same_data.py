#!/usr/bin/env python3
"""Check that paygate and the peer answer each workload with the same data, on a sample of
the workload's bench ids: both responses are reduced to the values they share (emails,
statuses, amounts in minor units, dates, invoice numbers, order) and compared.

    python3 same_data.py --peer http://127.0.0.1:5055/graphql \
        --paygate http://127.0.0.1:5077/graphql --authorization "Bearer pgk_…" [--sample 20]

Standard library only. Exits 1 on the first difference, printing both sides.
"""

import argparse
import json
import os
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from render_bodies import render  # noqa: E402


def post(url, body, authorization=None):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local URL)
        doc = json.load(response)
    if doc.get("errors"):
        raise SystemExit(f"{url}: {doc['errors']}")
    return doc["data"]


def _invoice_peer(i):
    return (
        i["number"],
        i["status"],
        i["currency"].upper(),
        i["amountDue"],
        i["amountPaid"],
        i["periodStart"],
        i["periodEnd"],
        i["createdAt"],
    )


def _invoice_paygate(i):
    return (
        i["number"],
        i["status"].lower(),
        i["total"]["currency"],
        i["total"]["amountMinor"],
        i["amountPaid"]["amountMinor"],
        i["periodStart"],
        i["periodEnd"],
        i["createdAt"],
    )


def _subscription(s, status):
    return (status, s["currentPeriodStart"], s["currentPeriodEnd"], s["cancelAtPeriodEnd"])


def customer_page_peer(data):
    c = data["customerById"]
    return {
        "customer": (c["email"], c["name"], c["country"], c["createdAt"]),
        "methods": [
            (m["type"], m["cardBrand"], m["cardLast4"], m["expMonth"], m["expYear"], m["isDefault"])
            for m in c["paymentMethodsByCustomerId"]["nodes"]
        ],
        "subscriptions": [
            (
                *_subscription(s, s["status"]),
                s["quantity"],
                s["priceByPriceId"]["nickname"],
                s["priceByPriceId"]["unitAmount"],
                s["priceByPriceId"]["currency"].upper(),
                s["priceByPriceId"]["billingInterval"],
                s["priceByPriceId"]["intervalCount"],
            )
            for s in c["subscriptionsByCustomerId"]["nodes"]
        ],
        "invoices": [
            (
                *_invoice_peer(i),
                [
                    (li["description"], li["quantity"], li["unitAmount"], li["amount"])
                    for li in i["invoiceLineItemsByInvoiceId"]["nodes"]
                ],
            )
            for i in c["invoicesByCustomerId"]["nodes"]
        ],
    }


def customer_page_paygate(data):
    c = data["customer"]
    subscriptions = []
    for s in c["subscriptions"]:
        (item,) = s["items"]  # the bench's subscriptions have one price each
        p = item["price"]
        subscriptions.append(
            (
                *_subscription(s, s["status"].lower()),
                item["quantity"],
                p["nickname"],
                p["unitAmount"]["amountMinor"],
                p["unitAmount"]["currency"],
                p["recurring"]["interval"].lower(),
                p["recurring"]["intervalCount"],
            )
        )
    return {
        "customer": (c["email"], c["name"], c["country"], c["createdAt"]),
        "methods": [
            (m["type"], m["brand"], m["last4"], m["expMonth"], m["expYear"], m["isDefault"])
            for m in c["paymentMethods"]
        ],
        "subscriptions": subscriptions,
        "invoices": [  # `invoices(last: 12)` is oldest first; the peer's newest first
            (
                *_invoice_paygate(i),
                [
                    (
                        li["description"],
                        li["quantity"],
                        li["unitAmount"]["amountMinor"],
                        li["amount"]["amountMinor"],
                    )
                    for li in i["lines"]
                ],
            )
            for i in reversed(c["invoices"])
        ],
    }


def customers_list_peer(data):
    return [
        (
            c["email"],
            c["name"],
            c["country"],
            c["createdAt"],
            [
                (
                    *_subscription(s, s["status"]),
                    [_invoice_peer(i) for i in s["invoicesBySubscriptionId"]["nodes"]],
                )
                for s in c["subscriptionsByCustomerId"]["nodes"]
            ],
        )
        for c in data["allCustomers"]["nodes"]
    ]


def customers_list_paygate(data):
    return [
        (
            c["email"],
            c["name"],
            c["country"],
            c["createdAt"],
            [
                (
                    *_subscription(s, s["status"].lower()),
                    [_invoice_paygate(s["latestInvoice"])] if s["latestInvoice"] else [],
                )
                for s in c["subscriptions"]
            ],
        )
        for c in (edge["node"] for edge in data["customers"]["edges"])
    ]


REDUCE = {
    "customer_page": (customer_page_peer, customer_page_paygate),
    "customers_list": (customers_list_peer, customers_list_paygate),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True)
    ap.add_argument("--paygate", required=True)
    ap.add_argument("--authorization", default="")
    ap.add_argument("--sample", type=int, default=20, help="bodies checked per workload")
    ap.add_argument("--workloads", default="customer_page customers_list")
    a = ap.parse_args()
    for w in a.workloads.split():
        with open(os.path.join(HERE, "peer", "queries", f"{w}.json")) as f:
            peer_bodies = render(json.load(f))
        with open(os.path.join(HERE, "queries", f"{w}.json")) as f:
            paygate_bodies = render(json.load(f))
        step = max(1, len(peer_bodies) // a.sample)
        reduce_peer, reduce_paygate = REDUCE[w]
        checked = 0
        for k in range(0, len(peer_bodies), step)[: a.sample]:
            left = reduce_peer(post(a.peer, peer_bodies[k]))
            right = reduce_paygate(post(a.paygate, paygate_bodies[k], a.authorization))
            if left != right:
                print(
                    f"same_data: {w} body {k} differs\npeer:    {left}\npaygate: {right}",
                    file=sys.stderr,
                )
                return 1
            checked += 1
        print(f"same_data: {w}: {checked} bodies, same data on both sides", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
