"""The Grafana dashboard and the alert rules only use metrics that /metrics exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api

DEPLOY = Path(__file__).parents[2] / "deploy"
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}
METRIC = re.compile(r"\bpaygate_[a-z0-9_]+")


def exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("expr", "definition") and isinstance(v, str)]
        return found + [e for v in node.values() for e in exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in exprs(v)]
    return []


async def exposed(api: Api) -> set[str]:
    """Every sample name /metrics declares, even before a first observation."""
    text = (await api.http.get("/metrics")).text
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }


async def test_the_dashboard_uses_exposed_metrics(api: Api) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "paygate.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    queries = exprs(dashboard["panels"]) + exprs(dashboard["templating"])
    used = {name for query in queries for name in METRIC.findall(query)}
    assert len(used) >= 15
    assert used <= await exposed(api), used - await exposed(api)
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("success rate", "decline", "p50 / p95 / p99", "webhook backlog",
                  "job queue", "pool"):  # fmt: skip
        assert topic in titles


async def test_the_alert_rules_use_exposed_metrics(api: Api) -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    used = {name for query in exprs(rules) for name in METRIC.findall(query)}
    assert used and used <= await exposed(api), used - await exposed(api)
