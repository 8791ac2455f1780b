"""deploy/k8s/: the kustomize base and the example overlay build, validate and say what matters.

Each build is plain ``kubectl kustomize`` (no load restrictor flag: the ConfigMaps come from
copies of ``config/`` and ``dashboards/`` inside the base, held equal here). Built-in kinds
are validated, strictly, against the Kubernetes OpenAPI schemas shipped in
``kubernetes-validate``; the Prometheus Operator's kinds have no schema there, so their
essential fields are checked by hand. ``kubectl`` comes from Debian's ``kubectl`` package, which
CI installs (``.ci/run``): without it these tests skip locally and fail in CI.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
COMPONENTS = K8S / "components"
OVERLAYS = K8S / "overlays"
CONFIG = ROOT / "config"
DASHBOARDS = ROOT / "dashboards"
DOCKERFILE = (ROOT / "Dockerfile").read_text()

KUSTOMIZE = ["kustomize"]  # the default load restrictor: nothing outside a root is read
KUBERNETES_VERSION = "1.32"  # validate against this API version: the oldest we support
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ExternalSecret"}  # CRDs: no schema here
SECRET_ENV = ("OPENAI_API_KEY", "GATEWAY_JWT_SECRET", "GATEWAY_REDIS_URL", "GATEWAY_DATABASE_URL")
REQUIRED_SECRET_ENV = ("OPENAI_API_KEY", "GATEWAY_REDIS_URL", "GATEWAY_DATABASE_URL")
MEASURED_RSS_BYTES = 103 * 10**6  # docs/benchmarks.md: RSS after load

# Every documented combination (deploy/k8s/README.md, "Combinations"): the directory built and
# the optional kinds its components add to the base's Deployment, Service and ConfigMaps.
ALWAYS = frozenset({"Deployment", "Service", "ConfigMap"})
EVERYTHING_WITH_THE_OPERATOR = frozenset(
    {
        "Namespace",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
    }
)
BUILDS: dict[str, tuple[Path, frozenset[str]]] = {
    "base": (BASE, frozenset()),
    "example": (OVERLAYS / "example", EVERYTHING_WITH_THE_OPERATOR),
    "external-secrets": (
        OVERLAYS / "external-secrets",
        EVERYTHING_WITH_THE_OPERATOR | {"ExternalSecret", "Ingress"},
    ),
    "without-prometheus-operator": (
        OVERLAYS / "without-prometheus-operator",
        (EVERYTHING_WITH_THE_OPERATOR - {"ServiceMonitor", "PrometheusRule"}) | {"Ingress"},
    ),
}
# Where each secret variable comes from (Secret, key), where a build changes it.
SHARED_STATE_SECRETS = {
    "GATEWAY_REDIS_URL": ("ai-gateway-redis", "url"),
    "GATEWAY_DATABASE_URL": ("ai-gateway-postgresql-app", "uri"),
}
SECRET_SOURCES: dict[str, dict[str, tuple[str, str]]] = {
    "without-prometheus-operator": SHARED_STATE_SECRETS,
}

Doc = dict[str, Any]


# --------------------------------------------------------------------------- building


@functools.cache
def _kustomize(path: Path) -> tuple[Doc, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        reason = "kubectl is not installed (Debian package `kubectl`; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason + ": required in CI")
        pytest.skip(reason)
    done = subprocess.run(
        [kubectl, *KUSTOMIZE, str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {path} failed:\n{done.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def builds_with(*kinds: str) -> list[str]:
    return [name for name, (_, optional) in BUILDS.items() if set(kinds) <= ALWAYS | optional]


def with_kinds(*kinds: str) -> pytest.MarkDecorator:
    """Run the test on every build that has these kinds (``docs`` then holds one of them)."""
    return pytest.mark.parametrize("docs", builds_with(*kinds), indirect=True)


@pytest.fixture(params=list(BUILDS))
def docs(request: pytest.FixtureRequest) -> tuple[Doc, ...]:
    """Every object of one build: the base, then each documented overlay."""
    return _kustomize(BUILDS[request.param][0])


@pytest.fixture(params=builds_with("Namespace"))
def overlay(request: pytest.FixtureRequest) -> tuple[Doc, ...]:
    """An overlay: its own namespace, a pinned image, the migration Job."""
    return _kustomize(BUILDS[request.param][0])


# --------------------------------------------------------------------------- helpers


def only(docs: tuple[Doc, ...], kind: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(docs: tuple[Doc, ...]) -> Doc:
    spec: Doc = only(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def pod_labels(docs: tuple[Doc, ...]) -> dict[str, str]:
    labels: dict[str, str] = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def container(docs: tuple[Doc, ...]) -> Doc:
    containers = pod_spec(docs)["containers"]
    assert len(containers) == 1, "one process per pod: the in-memory quota must not be split"
    found: Doc = containers[0]
    return found


def env(docs: tuple[Doc, ...]) -> dict[str, Doc]:
    return {var["name"]: var for var in container(docs).get("env", [])}


def port_names(docs: tuple[Doc, ...]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container(docs)["ports"]}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels only) picks an object with these labels."""
    assert set(selector) <= {"matchLabels"}, f"unexpected selector fields: {selector}"
    match = selector.get("matchLabels") or {}
    return bool(match) and all(labels.get(key) == value for key, value in match.items())


def config_map(docs: tuple[Doc, ...], name: str) -> Doc:
    found = [doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"no ConfigMap named {name!r} (generated names must be rewritten)"
    return found[0]


def config_volume(docs: tuple[Doc, ...]) -> tuple[str, Doc]:
    """(mount path, ConfigMap) of the volume mounted where GATEWAY_CONFIG's file lives."""
    path = PurePosixPath(env(docs)["GATEWAY_CONFIG"]["value"])
    mounts = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == str(path.parent)]
    assert len(mounts) == 1, f"nothing is mounted at {path.parent}, where GATEWAY_CONFIG points"
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    volume = volumes[mounts[0]["name"]]
    assert "configMap" in volume, f"{path.parent} is not a ConfigMap volume: {volume}"
    return str(path.parent), config_map(docs, volume["configMap"]["name"])


def dockerfile(pattern: str) -> str:
    found = re.search(pattern, DOCKERFILE, re.MULTILINE)
    assert found, f"the Dockerfile has no {pattern!r}"
    return found.group(1)


def cpu_millicores(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def memory_bytes(quantity: str | int) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9}
    text = str(quantity)
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * units[suffix]
    return float(text)


# --------------------------------------------------------------------------- validity


@pytest.mark.parametrize("build", list(BUILDS))
def test_each_combination_has_exactly_the_kinds_its_components_add(build: str) -> None:
    path, optional = BUILDS[build]
    assert {doc["kind"] for doc in _kustomize(path)} == ALWAYS | optional


def test_every_overlay_and_component_is_built_here_and_documented() -> None:
    readme = (K8S / "README.md").read_text()
    overlays = {path.name for path in OVERLAYS.iterdir() if path.is_dir()}
    assert overlays == set(BUILDS) - {"base"}, "build every overlay in BUILDS"
    used: set[str] = set()
    for name in overlays:
        assert f"overlays/{name}" in readme, f"deploy/k8s/README.md does not show {name}"
        kustomization = yaml.safe_load((OVERLAYS / name / "kustomization.yaml").read_text())
        used |= {PurePosixPath(path).name for path in kustomization.get("components", [])}
    components = {path.name for path in COMPONENTS.iterdir() if path.is_dir()}
    assert components == used, "every component is in at least one built overlay"
    for name in components:
        assert f"components/{name}" in readme, f"deploy/k8s/README.md does not describe {name}"


def test_the_readmes_own_overlay_snippet_builds_into_valid_objects() -> None:
    readme = (K8S / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    snippets = [block for block in blocks if "kind: Kustomization" in block]
    assert len(snippets) == 1, "one overlay snippet in deploy/k8s/README.md"
    # The snippet's relative paths are for a directory beside overlays/example.
    scratch = Path(tempfile.mkdtemp(dir=K8S, prefix=".snippet-"))
    try:
        mine = scratch / "mine"
        mine.mkdir()
        (mine / "kustomization.yaml").write_text(snippets[0])
        shutil.copy(OVERLAYS / "example" / "namespace.yaml", mine / "namespace.yaml")
        built = _kustomize(mine)
    finally:
        shutil.rmtree(scratch)
    kinds = {doc["kind"] for doc in built}
    assert kinds == ALWAYS | {
        "Namespace",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    for doc in built:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    for name, source in SHARED_STATE_SECRETS.items():
        ref = env(built)[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == source, name
    (job,) = [doc for doc in built if doc["kind"] == "Job"]
    (job_container,) = job["spec"]["template"]["spec"]["containers"]
    job_ref = job_container["env"][0]["valueFrom"]["secretKeyRef"]
    assert (job_ref["name"], job_ref["key"]) == SHARED_STATE_SECRETS["GATEWAY_DATABASE_URL"]


def test_every_built_in_object_is_valid_for_the_pinned_kubernetes_version(
    docs: tuple[Doc, ...],
) -> None:
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")


@with_kinds("ServiceMonitor")
def test_the_service_monitor_has_what_the_prometheus_operator_requires(
    docs: tuple[Doc, ...],
) -> None:
    monitor = only(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["name"]
    assert monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["endpoints"]
    for endpoint in monitor["spec"]["endpoints"]:
        assert isinstance(endpoint["port"], str), "ServiceMonitor ports are Service port names"
        assert endpoint["path"].startswith("/")
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


@with_kinds("PrometheusRule")
def test_the_prometheus_rule_is_dashboards_alerts_yaml(docs: tuple[Doc, ...]) -> None:
    rule = only(docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = yaml.safe_load((DASHBOARDS / "alerts.yaml").read_text())
    assert rule["spec"] == alerts, (
        "the PrometheusRule component differs from dashboards/alerts.yaml: run deploy/k8s/sync"
    )
    for group in rule["spec"]["groups"]:
        assert group["name"]
        for each in group["rules"]:
            assert each.get("alert")
            assert each.get("expr")


# --------------------------------------------------------------------------- the pods


def test_deployment_runs_three_replicas(docs: tuple[Doc, ...]) -> None:
    assert only(docs, "Deployment")["spec"]["replicas"] == 3


def test_deployment_selects_its_own_pods(docs: tuple[Doc, ...]) -> None:
    assert selects(only(docs, "Deployment")["spec"]["selector"], pod_labels(docs))


def test_rollouts_add_a_ready_pod_before_removing_one(docs: tuple[Doc, ...]) -> None:
    rolling = only(docs, "Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    assert rolling["maxSurge"] >= 1


def shipped_metrics_port() -> int:
    port: int = yaml.safe_load((CONFIG / "gateway.yaml").read_text())["server"]["metrics_port"]
    return port


def test_http_and_metrics_ports_are_where_the_image_listens(docs: tuple[Doc, ...]) -> None:
    image_port = int(dockerfile(r"GATEWAY_PORT=(\d+)"))
    metrics_port = shipped_metrics_port()
    assert port_names(docs) == {"http": image_port, "metrics": metrics_port}
    assert env(docs)["GATEWAY_PORT"]["value"] == str(image_port)
    assert env(docs)["GATEWAY_HOST"]["value"] == "0.0.0.0"
    assert "GATEWAY_METRICS_PORT" not in env(docs), "the config's server.metrics_port holds"
    assert dockerfile(r"^EXPOSE (.+)$").split() == [str(image_port), str(metrics_port)]


def test_service_links_are_off_so_no_service_can_shadow_gateway_port(
    docs: tuple[Doc, ...],
) -> None:
    # A Service named "gateway" would otherwise inject GATEWAY_PORT=tcp://…
    assert pod_spec(docs)["enableServiceLinks"] is False


def test_readiness_probe_is_readyz_on_the_http_port(docs: tuple[Doc, ...]) -> None:
    probe = container(docs)["readinessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/readyz", "http")


def test_readiness_probe_waits_longer_than_readyz_gives_the_database(
    docs: tuple[Doc, ...],
) -> None:
    assert container(docs)["readinessProbe"]["timeoutSeconds"] > 2


def test_liveness_probe_is_healthz_on_the_http_port(docs: tuple[Doc, ...]) -> None:
    probe = container(docs)["livenessProbe"]["httpGet"]
    assert (probe["path"], probe["port"]) == ("/healthz", "http")


def test_a_startup_probe_holds_liveness_back_while_the_gateway_starts(
    docs: tuple[Doc, ...],
) -> None:
    startup = container(docs)["startupProbe"]
    assert (startup["httpGet"]["path"], startup["httpGet"]["port"]) == ("/healthz", "http")
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30


def test_pod_runs_as_the_images_non_root_user(docs: tuple[Doc, ...]) -> None:
    pod = pod_spec(docs)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == int(dockerfile(r"^USER (\d+):\d+$")) == 10001
    assert pod["runAsGroup"] == int(dockerfile(r"^USER \d+:(\d+)$")) == 10001


def test_the_images_user_and_group_ids_are_the_ones_kubernetes_sets() -> None:
    # Without explicit ids, useradd --system picks a gid below 1000 (999), so files the
    # image gives its user would not belong to the group the pods run as.
    assert dockerfile(r"groupadd --gid (\d+) gateway") == "10001"
    assert dockerfile(r"useradd --no-log-init --uid 10001 --gid (\d+)") == "10001"


def test_root_filesystem_is_read_only_and_tmp_is_a_writable_empty_dir(
    docs: tuple[Doc, ...],
) -> None:
    assert container(docs)["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec(docs)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_container_cannot_escalate_and_drops_every_capability(docs: tuple[Doc, ...]) -> None:
    security = container(docs)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert not security["capabilities"].get("add")


def test_pod_uses_the_runtime_default_seccomp_profile(docs: tuple[Doc, ...]) -> None:
    assert pod_spec(docs)["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_pod_gets_no_service_account_token(docs: tuple[Doc, ...]) -> None:
    assert pod_spec(docs)["automountServiceAccountToken"] is False


def test_pre_stop_sleep_lets_endpoints_drop_before_sigterm(docs: tuple[Doc, ...]) -> None:
    command = container(docs)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert int(command[1]) >= 5


def test_grace_period_leaves_streams_a_minute_after_the_pre_stop_sleep(
    docs: tuple[Doc, ...],
) -> None:
    grace = pod_spec(docs)["terminationGracePeriodSeconds"]
    sleep = int(container(docs)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert grace >= 60
    assert grace - sleep >= 60


def test_resources_request_and_cap_cpu_and_memory(docs: tuple[Doc, ...]) -> None:
    resources = container(docs)["resources"]
    requests, limits = resources["requests"], resources["limits"]
    assert cpu_millicores(requests["cpu"]) <= cpu_millicores(limits["cpu"])
    assert memory_bytes(requests["memory"]) <= memory_bytes(limits["memory"])
    assert memory_bytes(requests["memory"]) >= 1.5 * MEASURED_RSS_BYTES
    # One process runs one event loop: a limit under a core would throttle it.
    assert cpu_millicores(limits["cpu"]) >= 1000


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("build", list(BUILDS))
def test_secrets_come_from_secrets_by_reference(build: str) -> None:
    # One Secret, ai-gateway-secrets, its keys the variable names; shared-state-secrets reads
    # Redis's and PostgreSQL's URLs from the Secrets their own tooling creates instead.
    variables = env(_kustomize(BUILDS[build][0]))
    expected = {name: ("ai-gateway-secrets", name) for name in SECRET_ENV}
    expected |= SECRET_SOURCES.get(build, {})
    for name in SECRET_ENV:
        assert "value" not in variables[name], f"{name} is a literal"
        ref = variables[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == expected[name], name


def test_upstream_key_and_shared_state_are_required_so_no_pod_starts_without_them(
    docs: tuple[Doc, ...],
) -> None:
    # Without OPENAI_API_KEY the gateway refuses to start (it never falls back to a fake
    # upstream); without Redis and PostgreSQL each replica would keep limits, budgets and
    # ledger to itself.
    for name in REQUIRED_SECRET_ENV:
        assert env(docs)[name]["valueFrom"]["secretKeyRef"].get("optional") is not True, name


def test_no_secret_values_are_in_the_repository(docs: tuple[Doc, ...]) -> None:
    assert not [doc for doc in docs if doc["kind"] == "Secret"]


# --------------------------------------------------------------------------- config


def test_config_is_mounted_where_gateway_config_points(docs: tuple[Doc, ...]) -> None:
    path = PurePosixPath(env(docs)["GATEWAY_CONFIG"]["value"])
    mount_path, config = config_volume(docs)
    assert path.name in config["data"]
    pricing = yaml.safe_load((CONFIG / "gateway.yaml").read_text())["accounting"]["pricing_file"]
    assert pricing in config["data"], "the price table must sit next to gateway.yaml"
    mount = next(m for m in container(docs)["volumeMounts"] if m["mountPath"] == mount_path)
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    assert mount["readOnly"] is True


def test_config_map_holds_gateway_and_pricing_yaml_verbatim(docs: tuple[Doc, ...]) -> None:
    _, config = config_volume(docs)
    assert config["data"] == {
        "gateway.yaml": (CONFIG / "gateway.yaml").read_text(),
        "pricing.yaml": (CONFIG / "pricing.yaml").read_text(),
    }, "deploy/k8s/base/config/ differs from config/: run deploy/k8s/sync"


# --------------------------------------------------------------------------- traffic


def test_service_selects_the_pods_and_targets_the_container_port_by_name(
    docs: tuple[Doc, ...],
) -> None:
    service = only(docs, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(docs))
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"},
    ]
    assert {"http", "metrics"} <= set(port_names(docs))


@with_kinds("NetworkPolicy")
def test_network_policy_selects_the_pods(docs: tuple[Doc, ...]) -> None:
    policy = only(docs, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"], pod_labels(docs))
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


@with_kinds("NetworkPolicy")
def test_network_policy_admits_the_http_port_and_only_prometheus_to_the_metrics_port(
    docs: tuple[Doc, ...],
) -> None:
    ingress = only(docs, "NetworkPolicy")["spec"]["ingress"]
    assert [rule["ports"] for rule in ingress] == [
        [{"port": "http", "protocol": "TCP"}],
        [{"port": "metrics", "protocol": "TCP"}],
    ]
    assert "from" not in ingress[0], "clients come from anywhere the Service is reachable"
    assert ingress[1]["from"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ], "every tenant's spend is for the Prometheus Operator's pods only"


@with_kinds("NetworkPolicy")
def test_network_policy_lets_out_only_dns_https_redis_and_postgres(
    docs: tuple[Doc, ...],
) -> None:
    egress = only(docs, "NetworkPolicy")["spec"]["egress"]
    allowed = {(port["protocol"], port["port"]) for rule in egress for port in rule["ports"]}
    assert allowed == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6379), ("TCP", 5432)}


# --------------------------------------------------------------------------- scaling


@with_kinds("HorizontalPodAutoscaler")
def test_hpa_targets_the_deployment_and_keeps_at_least_three_pods(docs: tuple[Doc, ...]) -> None:
    hpa = only(docs, "HorizontalPodAutoscaler")
    deployment = only(docs, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 3
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]


@with_kinds("HorizontalPodAutoscaler")
def test_hpa_scales_on_cpu_utilisation(docs: tuple[Doc, ...]) -> None:
    metrics = only(docs, "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert [(m["type"], m["resource"]["name"]) for m in metrics] == [("Resource", "cpu")]
    assert metrics[0]["resource"]["target"]["type"] == "Utilization"


@with_kinds("PodDisruptionBudget")
def test_pdb_selects_the_pods(docs: tuple[Doc, ...]) -> None:
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert selects(pdb["spec"]["selector"], pod_labels(docs))


@with_kinds("PodDisruptionBudget")
def test_pdb_lets_drains_proceed_one_pod_at_a_time(docs: tuple[Doc, ...]) -> None:
    spec = only(docs, "PodDisruptionBudget")["spec"]
    assert spec["maxUnavailable"] == 1
    assert "minAvailable" not in spec


# --------------------------------------------------------------------------- monitoring


@with_kinds("ServiceMonitor")
def test_service_monitor_selects_the_service_and_scrapes_the_metrics_port(
    docs: tuple[Doc, ...],
) -> None:
    monitor = only(docs, "ServiceMonitor")["spec"]
    service = only(docs, "Service")
    assert selects(monitor["selector"], service["metadata"]["labels"])
    assert "namespaceSelector" not in monitor, "the monitor looks in its own namespace"
    service_ports = {port["name"]: port["port"] for port in service["spec"]["ports"]}
    assert [(e["port"], e["path"]) for e in monitor["endpoints"]] == [("metrics", "/metrics")]
    assert service_ports["metrics"] == port_names(docs)["metrics"] == shipped_metrics_port()


def test_dashboards_config_map_holds_every_dashboard_for_the_grafana_sidecar(
    docs: tuple[Doc, ...],
) -> None:
    labelled = [
        doc
        for doc in docs
        if doc["kind"] == "ConfigMap"
        and doc["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(labelled) == 1, "one ConfigMap carries the sidecar label grafana_dashboard: '1'"
    files = sorted(DASHBOARDS.glob("*.json"))
    assert files
    assert labelled[0]["data"] == {path.name: path.read_text() for path in files}, (
        "deploy/k8s/base/dashboards/ differs from dashboards/: run deploy/k8s/sync (and list a "
        "new file in deploy/k8s/base/kustomization.yaml)"
    )
    for text in labelled[0]["data"].values():
        json.loads(text)


# --------------------------------------------------------------------------- the overlay


def test_overlay_puts_every_object_in_its_namespace(overlay: tuple[Doc, ...]) -> None:
    namespace = only(overlay, "Namespace")["metadata"]["name"]
    for doc in overlay:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, doc["metadata"]["name"]


def test_overlay_namespace_enforces_the_restricted_pod_security_standard(
    overlay: tuple[Doc, ...],
) -> None:
    labels = only(overlay, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_overlay_pins_the_image_to_a_registry_and_a_version(overlay: tuple[Doc, ...]) -> None:
    image = container(overlay)["image"]
    name, _, tag = image.rpartition(":")
    assert "/" in name, image
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), image


# --------------------------------------------------------------------------- the migration Job


def migration_job(docs: tuple[Doc, ...]) -> Doc:
    job = only(docs, "Job")
    assert job["metadata"]["name"] == "ai-gateway-migrate"
    return job


@with_kinds("Job")
def test_migration_job_runs_db_upgrade_through_the_images_entry_point(
    docs: tuple[Doc, ...],
) -> None:
    # The entry point is `gateway`: `command` would replace it, and args ["gateway", ...]
    # would run `gateway gateway db upgrade`.
    (job_container,) = migration_job(docs)["spec"]["template"]["spec"]["containers"]
    assert dockerfile(r"^ENTRYPOINT (.+)$") == '["gateway"]'
    assert "command" not in job_container
    assert job_container["args"] == ["db", "upgrade"]


@with_kinds("Job")
def test_migration_job_uses_the_release_image_and_the_deployments_database(
    docs: tuple[Doc, ...],
) -> None:
    (job_container,) = migration_job(docs)["spec"]["template"]["spec"]["containers"]
    assert job_container["image"] == container(docs)["image"]
    job_env = {var["name"]: var for var in job_container["env"]}
    assert job_env["GATEWAY_DATABASE_URL"] == env(docs)["GATEWAY_DATABASE_URL"]


@with_kinds("Job")
def test_migration_job_runs_once_and_is_not_one_of_the_services_pods(
    docs: tuple[Doc, ...],
) -> None:
    spec = migration_job(docs)["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["backoffLimit"] >= 1
    job_labels = spec["template"]["metadata"]["labels"]
    assert not selects(only(docs, "Deployment")["spec"]["selector"], job_labels)
    assert not selects({"matchLabels": only(docs, "Service")["spec"]["selector"]}, job_labels)


def restricted_profile_violations(pod: Doc) -> list[str]:
    """What the "restricted" Pod Security Standard (v1.32) refuses in one pod spec."""
    found = []
    pod_security = pod.get("securityContext", {})
    if pod_security.get("seccompProfile", {}).get("type") not in {"RuntimeDefault", "Localhost"}:
        found.append("pod seccompProfile")
    for box in pod["containers"] + pod.get("initContainers", []):
        security = box.get("securityContext", {})
        name = box["name"]
        if not (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot")
        if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        if security.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation")
        if security.get("privileged"):
            found.append(f"{name}: privileged")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            found.append(f"{name}: capabilities.drop")
        if set(security.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities.add")
    for volume in pod.get("volumes", []):
        allowed = {"configMap", "emptyDir", "secret", "projected", "persistentVolumeClaim"}
        if not set(volume) - {"name"} <= allowed:
            found.append(f"volume {volume['name']}")
    return found


def test_every_pod_meets_the_restricted_pod_security_standard(overlay: tuple[Doc, ...]) -> None:
    pods = {
        doc["kind"]: doc["spec"]["template"]["spec"]
        for doc in overlay
        if doc["kind"] in {"Deployment", "Job"}
    }
    assert set(pods) == {"Deployment", "Job"}
    for kind, pod in pods.items():
        assert restricted_profile_violations(pod) == [], kind
        assert pod["securityContext"]["runAsUser"] == 10001, kind
        assert pod["securityContext"]["runAsGroup"] == 10001, kind
        for box in pod["containers"]:
            assert box["securityContext"]["readOnlyRootFilesystem"] is True, kind


def test_the_restricted_profile_check_refuses_a_pod_with_no_hardening() -> None:
    pod = {"containers": [{"name": "c"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    assert restricted_profile_violations(pod) == [
        "pod seccompProfile",
        "c: runAsNonRoot",
        "c: allowPrivilegeEscalation",
        "c: capabilities.drop",
        "volume h",
    ]


# --------------------------------------------------------------------------- Ingress, ExternalSecret


@with_kinds("Ingress")
def test_ingress_routes_to_the_services_http_port_only_over_tls(docs: tuple[Doc, ...]) -> None:
    ingress = only(docs, "Ingress")["spec"]
    service = only(docs, "Service")
    backends = [
        path["backend"]["service"] for rule in ingress["rules"] for path in rule["http"]["paths"]
    ]
    assert backends == [{"name": service["metadata"]["name"], "port": {"name": "http"}}]
    hosts = {rule["host"] for rule in ingress["rules"]}
    assert hosts <= {host for tls in ingress["tls"] for host in tls["hosts"]}


@with_kinds("Ingress")
def test_ingress_does_not_buffer_streams(docs: tuple[Doc, ...]) -> None:
    annotations = only(docs, "Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600


@with_kinds("ExternalSecret")
def test_external_secret_creates_the_secret_with_every_key_the_pods_read(
    docs: tuple[Doc, ...],
) -> None:
    external = only(docs, "ExternalSecret")
    assert external["apiVersion"] == "external-secrets.io/v1"
    spec = external["spec"]
    assert spec["secretStoreRef"]["name"]
    assert spec["secretStoreRef"]["kind"] in {"SecretStore", "ClusterSecretStore"}
    target = spec["target"]["name"]
    provided = {item["secretKey"] for item in spec["data"]}
    assert all(item["remoteRef"]["key"] for item in spec["data"])
    read = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for doc in docs
        if doc["kind"] in {"Deployment", "Job"}
        for box in doc["spec"]["template"]["spec"]["containers"]
        for var in box.get("env", [])
        if var.get("valueFrom", {}).get("secretKeyRef", {}).get("name") == target
    }
    assert read == provided == set(SECRET_ENV)
