"""The Prometheus alert rules in deploy/prometheus: each one evaluated against sample series
by `promtool test rules` (Debian's `prometheus` package). Without promtool the test is
skipped, except in CI (CI set), where it fails: .ci/run installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: apt-get install prometheus")
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return found


def run(*args: str) -> None:
    done = subprocess.run(
        [promtool(), *args], cwd=RULES, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_are_valid() -> None:
    run("check", "rules", "alerts.yml")


def test_each_rule_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    run("test", "rules", "alerts_test.yml")


def test_every_alert_has_a_test_where_it_fires() -> None:
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())
    firing = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert alerts == firing
