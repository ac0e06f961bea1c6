"""The container path, checked statically (no Docker engine, no cluster here).

- Dockerfile: slim Python base, non-root USER, every COPY source exists and survives
  .dockerignore, HEALTHCHECK on /admin/host/ping at the port funchost itself picks from
  ASPNETCORE_URLS, EXPOSE that port, CMD runs funchost with the app;
- .dockerignore keeps tests/, infra/, node_modules/ and .venv/ out of the build context;
- infra/k8s/: core kinds validated against the Kubernetes JSON schemas (kubernetes-validate,
  strict: unknown fields fail), KEDA kinds against tests/infra/schemas/keda.json, and the
  manifests checked against each other, the Dockerfile and the Bicep entity names.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.infra import need
from tests.infra.bicep import INFRA, REPO

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
K8S = INFRA / "k8s"
KUBERNETES_VERSION = "1.31.0"  # a version AKS supports; the schemas ship with kubernetes-validate
# Values the deployment fills in (docs/infra.md); any valid value will do for validation.
PLACEHOLDERS = {
    "AZURE_WORKLOAD_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "KEDA_CLIENT_ID": "00000000-0000-0000-0000-000000000002",
    "STORAGE_ACCOUNT_NAME": "stexample0123456789abc",
    "VAULT_STORAGE_ACCOUNT_NAME": "vaultexample0123456789",
    "SERVICEBUS_NAMESPACE": "sb-example",
    "IMAGE_REPOSITORY": "example.azurecr.io/funchost-jobs",
    "IMAGE_DIGEST": "sha256:" + "0" * 64,
}


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            logical.append(current)
            current = ""
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in logical]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in stage:
        if op == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def exec_form(args: str) -> list[str]:
    return list(json.loads(args))


def test_images_are_slim_python_and_the_final_stage_is_not_root() -> None:
    froms = [args for op, args in instructions() if op == "FROM"]
    assert froms and all(re.match(r"python:\$\{PYTHON_VERSION\}-slim\b", f) for f in froms)
    users = [args for op, args in final_stage() if op == "USER"]
    assert users, "the final stage sets no USER (runs as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    uid = re.search(r"--uid (\d+)", " ".join(a for op, a in final_stage() if op == "RUN"))
    assert uid and user in (uid.group(1), "app")


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes `relative` (leading-path patterns, `!` exceptions)."""
    from fnmatch import fnmatch

    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        parts = relative.split("/")
        hit = any(fnmatch("/".join(parts[:i]), bare) for i in range(1, len(parts) + 1))
        hit = hit or (bare.startswith("**/") and fnmatch(parts[-1], bare[3:]))
        if hit:
            ignored = not negate
    return ignored


def dockerignore() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore()
    copied = []
    for op, args in instructions():
        if op != "COPY" or "--from=" in args:
            continue
        *sources, _destination = shlex.split(args)
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
            copied.append(source)
    # What the host needs to run the app, and what builds the host.
    for needed in (
        "host.json",
        "function_app.py",
        "functions",
        "shared",
        "requirements.txt",
        "pyproject.toml",
        "README.md",
        "src",
    ):
        assert needed in copied, f"the image lacks {needed}"


def test_dockerignore_keeps_tests_infra_and_environments_out() -> None:
    patterns = dockerignore()
    for path in ("tests", "infra", "node_modules", ".venv", ".git"):
        assert _ignored(path, patterns), f".dockerignore does not exclude {path}/"


def probe_url(code: str, aspnetcore_urls: str) -> str:
    """The URL the HEALTHCHECK's Python one-liner requests, run with a recording urlopen."""
    opened: list[str] = []

    def urlopen(url: str, timeout: float) -> None:
        opened.append(url)

    fake_urllib = SimpleNamespace(request=SimpleNamespace(urlopen=urlopen))
    fake_os = SimpleNamespace(environ={"ASPNETCORE_URLS": aspnetcore_urls})
    body = code.replace("import os, re, urllib.request; ", "")
    exec(body, {"os": fake_os, "re": re, "urllib": fake_urllib})
    (url,) = opened
    return url


def test_health_check_expose_and_cmd_agree_with_funchost() -> None:
    from funchost.cli.start import resolve_port

    stage = final_stage()
    env = env_of(stage)
    port = resolve_port(None, env, None)
    exposed = [args for op, args in stage if op == "EXPOSE"]
    assert exposed == [str(port)], (exposed, env.get("ASPNETCORE_URLS"))
    (health,) = [args for op, args in stage if op == "HEALTHCHECK"]
    command = exec_form(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"] and "/admin/host/ping" in command[2]
    # Run the probe's own port logic with a recording urlopen, for several ASPNETCORE_URLS.
    for urls in (env["ASPNETCORE_URLS"], "http://+:8080", "http://0.0.0.0:9000;https://+:443"):
        expected = resolve_port(None, {"ASPNETCORE_URLS": urls}, None)
        assert probe_url(command[2], urls) == f"http://127.0.0.1:{expected}/admin/host/ping"
    (cmd,) = [args for op, args in stage if op == "CMD"]
    assert exec_form(cmd)[:2] == ["funchost", "start"]
    workdir = [args for op, args in stage if op == "WORKDIR"][-1]
    assert exec_form(cmd)[-2:] == ["--app-dir", workdir]


# --- Kubernetes ---------------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    yaml = need("yaml", "pyyaml")
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        text = path.read_text()
        for name in re.findall(r"\$\{(\w+)\}", text):
            assert name in PLACEHOLDERS, f"{path.name}: unknown placeholder ${{{name}}}"
        for name, value in PLACEHOLDERS.items():
            text = text.replace("${" + name + "}", value)
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


def test_core_manifests_match_the_kubernetes_schemas() -> None:
    try:
        import kubernetes_validate
    except ImportError:
        from tests.conftest import unavailable

        unavailable("kubernetes-validate is not installed: pip install kubernetes-validate")
    core = [d for d in manifests() if not d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in core} >= {"Deployment", "Service", "ServiceAccount"}
    for doc in core:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_keda_manifests_match_the_keda_schema() -> None:
    jsonschema = need("jsonschema", "jsonschema")
    schema = json.loads((Path(__file__).parent / "schemas" / "keda.json").read_text())
    keda = [d for d in manifests() if d["apiVersion"].startswith("keda.sh/")]
    assert {d["kind"] for d in keda} == {"ScaledObject", "TriggerAuthentication"}
    for doc in keda:
        jsonschema.validate(doc, {**schema, "$ref": f"#/$defs/{doc['kind']}"})


def test_manifests_fit_together_and_with_the_image() -> None:
    (deployment,) = by_kind("Deployment")
    (service,) = by_kind("Service")
    (account,) = by_kind("ServiceAccount")
    (policy,) = by_kind("NetworkPolicy")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    (port,) = container["ports"]
    from funchost.cli.start import resolve_port

    assert resolve_port(None, env, None) == port["containerPort"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/admin/host/ping", "port": port["name"]}
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert policy["spec"]["ingress"][0]["ports"][0]["port"] == port["containerPort"]
    # Workload identity: the labelled pod runs as the annotated service account.
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert "azure.workload.identity/client-id" in account["metadata"]["annotations"]
    # The Dockerfile's user, not root.
    user = [a for op, a in final_stage() if op == "USER"][-1].split(":")[0]
    assert str(pod["spec"]["securityContext"]["runAsUser"]) == user
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "@" in container["image"], "pinned by digest"
    namespaces = {d["metadata"].get("namespace") for d in manifests() if d["kind"] != "Namespace"}
    assert namespaces == {by_kind("Namespace")[0]["metadata"]["name"]}


def test_keda_scales_the_deployment_on_the_provisioned_queues() -> None:
    from tests.infra import bicep

    (scaled,) = by_kind("ScaledObject")
    (auth,) = by_kind("TriggerAuthentication")
    (deployment,) = by_kind("Deployment")
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert auth["spec"]["podIdentity"]["provider"] == "azure-workload"
    main = bicep.INFRA / "main.bicep"
    env = bicep.literal_vars(main)
    storage_queues = set(env["storageQueueNames"])
    service_bus_queues = {q["name"] for q in env["serviceBusQueues"]}
    # What KEDA's identity may read (main.bicep scalerRoles).
    roles = bicep.module_params(main, "scalerRoles")
    readable = {r["queue"] for r in bicep.literal(roles["storageQueueRoles"], env)}
    owned = {r["queue"] for r in bicep.literal(roles["serviceBusQueueRoles"], env)}
    scaled_on: dict[str, set[str]] = {"azure-queue": set(), "azure-servicebus": set()}
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
        meta = trigger["metadata"]
        scaled_on[trigger["type"]].add(meta["queueName"])
        if trigger["type"] == "azure-queue":
            assert meta["queueName"] in storage_queues and meta["accountName"]
        elif trigger["type"] == "azure-servicebus":
            assert meta["queueName"] in service_bus_queues and meta["namespace"]
    # The queues the jobs app drains (a queue nobody consumes would hold the scale at its
    # maximum), and exactly those KEDA's identity can read.
    assert scaled_on["azure-queue"] == {"jobs-high", "jobs-normal", "batch-parts"} == readable
    assert scaled_on["azure-servicebus"] == set(env["orderStepQueueNames"]) == owned
    # The Deployment's connections name the same account and namespace KEDA reads.
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    values = {e["name"]: e["value"] for e in container["env"]}
    assert values["AzureWebJobsStorage__accountName"] == PLACEHOLDERS["STORAGE_ACCOUNT_NAME"]
    assert values["ServiceBusConnection__fullyQualifiedNamespace"].startswith(
        PLACEHOLDERS["SERVICEBUS_NAMESPACE"] + "."
    )
    vault = PLACEHOLDERS["VAULT_STORAGE_ACCOUNT_NAME"]
    for service in ("queue", "table"):
        uri = values[f"SensitiveStorage__{service}ServiceUri"]
        assert uri == f"https://{vault}.{service}.core.windows.net", uri


def test_every_placeholder_is_documented() -> None:
    docs = (REPO / "docs" / "infra.md").read_text()
    for name in PLACEHOLDERS:
        assert name in docs, f"docs/infra.md does not say how to set {name}"
