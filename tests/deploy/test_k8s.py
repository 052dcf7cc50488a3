"""deploy/k8s, parsed: workloads, probes, resources, and configuration the code actually reads."""
from __future__ import annotations

from collections import defaultdict

import pytest
import yaml

from app.config import Settings
from tests.deploy.conftest import ROOT, SERVICE_VARIABLES

K8S = ROOT / "deploy" / "k8s"


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, dict]]:
    """kind -> name -> manifest, from every file kustomization.yaml lists."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found: dict[str, dict[str, dict]] = defaultdict(dict)
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text()):
            found[doc["kind"]][doc["metadata"]["name"]] = doc
    listed = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == set(kustomization["resources"]), "a manifest kustomize would not apply"
    return found


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def containers(manifests) -> list[tuple[str, dict]]:
    workloads = [*manifests["Deployment"].values(), *manifests["Job"].values()]
    return [(w["metadata"]["name"], c) for w in workloads for c in pod_spec(w)["containers"]]


def test_api_and_worker_deployments_and_a_migrate_job(manifests):
    api, worker = manifests["Deployment"]["calendar-api"], manifests["Deployment"]["calendar-worker"]
    job = manifests["Job"]["calendar-migrate"]
    assert pod_spec(api)["containers"][0]["args"] == ["web"]
    assert pod_spec(worker)["containers"][0]["args"] == ["worker"]
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    assert api["spec"]["replicas"] >= 2 and worker["spec"]["replicas"] >= 2
    images = {c["image"] for _, c in containers(manifests)}
    assert len(images) == 1  # one image, three modes


def test_the_service_reaches_the_api_pods_on_their_http_port(manifests):
    service = manifests["Service"]["calendar-api"]
    api = manifests["Deployment"]["calendar-api"]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert api["spec"]["selector"]["matchLabels"].items() <= labels.items()
    worker_labels = manifests["Deployment"]["calendar-worker"]["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    [port] = service["spec"]["ports"]
    container = pod_spec(api)["containers"][0]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named[port["targetPort"]] == int({e["name"]: e["value"] for e in container["env"]}["PORT"])


def test_api_probes_liveness_and_readiness_on_the_health_endpoints(manifests):
    container = pod_spec(manifests["Deployment"]["calendar-api"])["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    ports = {p["name"] for p in container["ports"]}
    assert all(container[probe]["httpGet"]["port"] in ports
               for probe in ("livenessProbe", "readinessProbe", "startupProbe"))


@pytest.mark.parametrize("kind", ["requests", "limits"])
def test_every_container_has_cpu_and_memory_resources(manifests, kind):
    for name, container in containers(manifests):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), name


def test_every_pod_runs_as_the_images_non_root_user(manifests):
    for workload in [*manifests["Deployment"].values(), *manifests["Job"].values()]:
        context = pod_spec(workload)["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
    for name, container in containers(manifests):
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name


def test_configuration_comes_from_the_configmap_and_the_secret(manifests):
    config = manifests["ConfigMap"]["calendar-config"]["data"]
    secret = manifests["Secret"]["calendar-secrets"]["stringData"]
    for name, container in containers(manifests):
        refs = {next(iter(ref)): next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"configMapRef": "calendar-config", "secretRef": "calendar-secrets"}, name
    assert set(config) | set(secret) <= SERVICE_VARIABLES, (set(config) | set(secret)) - SERVICE_VARIABLES
    assert not set(config) & set(secret)
    # credentials never sit in the ConfigMap
    assert {"DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "API_KEYS", "ADMIN_API_KEYS"} <= set(secret)
    settings = Settings.from_env({**config, **secret})  # production checks pass as configured
    assert settings.is_production and settings.RATE_LIMIT_PER_CANDIDATE == "10/minute"


def test_graceful_shutdown_outlasts_gunicorns_graceful_timeout(manifests):
    graceful = 20  # gunicorn.conf.py
    assert f"graceful_timeout = {graceful}" in (ROOT / "gunicorn.conf.py").read_text()
    for deployment in manifests["Deployment"].values():
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > graceful
