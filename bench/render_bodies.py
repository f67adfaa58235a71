#!/usr/bin/env python3
"""Render a workload file (queries/*.json, peer/queries/*.json) into POST bodies, one compact
JSON per line. The shared yardstick's render_bodies.py, plus ``vary_encode``.

    python3 render_bodies.py queries/customer_page.json > /tmp/x.jsonl
    python3 render_bodies.py --ids queries/customer_page.json   # just the varied bench ids

``vary`` (identical on both sides: same seed, same bench id sequence) says which variable
to vary over which integer range, how many bodies, the RNG seed, and whether the value is
a JSON "string" or "int". ``vary_encode`` (optional) turns the bench id N into what this
side's API takes instead of N itself:

    customer_global_id                    paygate's global ID of bench customer N
    customer_cursor                       paygate's cursor right after bench customer N
    postgraphile_cursor_primary_key_desc  PostGraphile v4's cursor after row N, PRIMARY_KEY_DESC

Standard library only.
"""

import argparse
import base64
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ids import customer_cursor, customer_global_id  # noqa: E402


def postgraphile_cursor_primary_key_desc(n):
    return base64.b64encode(
        json.dumps(["primary_key_desc", [n]], separators=(",", ":")).encode()
    ).decode()


ENCODERS = {
    "customer_global_id": customer_global_id,
    "customer_cursor": customer_cursor,
    "postgraphile_cursor_primary_key_desc": postgraphile_cursor_primary_key_desc,
}


def varied_ids(spec):
    v = spec.get("vary")
    if not v:
        return None
    rng = random.Random(v["seed"])
    return [rng.randint(v["min"], v["max"]) for _ in range(v["count"])]


def render(spec):
    body = spec["body"]
    ids = varied_ids(spec)
    if ids is None:
        return [json.dumps(body, separators=(",", ":"))]
    v = spec["vary"]
    encode = ENCODERS[spec["vary_encode"]] if spec.get("vary_encode") else None
    out = []
    for i in ids:
        b = json.loads(json.dumps(body))
        if encode is not None:
            value = encode(i)
        else:
            value = str(i) if v.get("json_type") == "string" else i
        b.setdefault("variables", {})[v["variable"]] = value
        out.append(json.dumps(b, separators=(",", ":")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--ids", action="store_true", help="print only the varied ids, one per line")
    a = ap.parse_args()
    with open(a.workload) as f:
        spec = json.load(f)
    if a.ids:
        ids = varied_ids(spec) or []
        sys.stdout.write("".join(f"{i}\n" for i in ids))
    else:
        sys.stdout.write("".join(line + "\n" for line in render(spec)))


if __name__ == "__main__":
    main()
