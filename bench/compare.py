#!/usr/bin/env python3
"""paygate against the peer, from the RESULT lines of one run (labels SIDE/WORKLOAD/cN/rK):
median req/s, p50 and p99 of each side, and the ratios, as a Markdown table.

    python3 compare.py results.jsonl [--peer postgraphile] [--side paygate]

The goal (the performance issue): req/s ratio >= 2 with p99 no worse than the peer's on
customer_page and customers_list, at 10 and 50 connections. Standard library only.
"""

import argparse
import json
import statistics
from collections import defaultdict


def medians(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("RESULT "):
                line = line[7:]
            d = json.loads(line)
            side, workload, conns, _rep = d["label"].split("/")
            runs[(side, workload, int(conns[1:]))].append(d)
    return {
        key: {m: statistics.median(r[m] for r in rs) for m in ("rps", "p50_ms", "p99_ms")}
        | {"reps": len(rs)}
        for key, rs in runs.items()
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--peer", default="postgraphile")
    ap.add_argument("--side", default="paygate")
    a = ap.parse_args()
    m = medians(a.results)
    print(
        f"| workload | conns | {a.peer} req/s | {a.side} req/s | ratio | "
        f"{a.peer} p50 / p99 ms | {a.side} p50 / p99 ms | p99 ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    keys = sorted({(w, c) for (_s, w, c) in m}, key=lambda k: (k[0] != "ping", k))
    for workload, conns in keys:
        peer, side = m.get((a.peer, workload, conns)), m.get((a.side, workload, conns))
        if peer is None or side is None:
            continue
        print(
            f"| {workload} | {conns} | {peer['rps']:,.0f} | {side['rps']:,.0f} "
            f"| **{side['rps'] / peer['rps']:.2f}x** "
            f"| {peer['p50_ms']:.2f} / {peer['p99_ms']:.2f} "
            f"| {side['p50_ms']:.2f} / {side['p99_ms']:.2f} "
            f"| {side['p99_ms'] / peer['p99_ms']:.2f} |"
        )
    print(
        "\nratio: paygate req/s over the peer's (goal >= 2.00; general path >= 0.50); "
        "p99 ratio: paygate's p99 over the peer's (goal <= 1.00). Medians over the reps."
    )


if __name__ == "__main__":
    main()
