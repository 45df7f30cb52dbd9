"""What CI can check of the production shape without a container engine: the Kubernetes
manifests validate against Kubernetes' schemas (kubernetes-validate, strict), the Compose
file parses and names only files that exist (or that an operator provides, documented),
and the image's install steps — deploy/image/install.sh, which the Dockerfile runs — give
a working installation with the console's files in a fresh virtual environment."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = "1.33.0"


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted((DEPLOY / "kubernetes").glob("[0-9]*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_the_manifests_validate_against_the_kubernetes_schemas() -> None:
    manifests = _manifests()
    kinds = sorted({doc["kind"] for _, doc in manifests})
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    ]
    for _, doc in manifests:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)  # raises, naming the field
    # The validator does refuse: a misspelled field fails.
    _, deployment = next((n, d) for n, d in manifests if d["kind"] == "Deployment")
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES, strict=True)


def test_the_workers_run_per_site_with_a_disruption_budget_and_a_graceful_stop() -> None:
    manifests = _manifests()
    workers = [
        d
        for _, d in manifests
        if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("nightwatch-worker")
    ]
    sites = set()
    for worker in workers:
        pod = worker["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        sites.add(env["NIGHTWATCH_SITE"])
        assert pod["terminationGracePeriodSeconds"] >= 60
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["readinessProbe"]["exec"]["command"] == ["nightwatch", "health", "--probe"]
    assert sites == {"dc-a", "dc-b"}
    budgets = {d["metadata"]["name"] for _, d in manifests if d["kind"] == "PodDisruptionBudget"}
    assert budgets == {w["metadata"]["name"] for w in workers}
    services = {d["metadata"]["name"] for _, d in manifests if d["kind"] == "Service"}
    assert services == {"nightwatch-api", "nightwatch-intake"}
    secrets = {d["metadata"]["name"] for _, d in manifests if d["kind"] == "Secret"}
    for _, doc in manifests:
        if doc["kind"] != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        named = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        named |= {
            ref["secretRef"]["name"]
            for c in pod["containers"]
            for ref in c.get("envFrom", [])
            if "secretRef" in ref
        }
        assert named <= secrets, named - secrets


def test_the_compose_file_names_only_files_that_exist() -> None:
    folder = DEPLOY / "compose"
    compose = yaml.safe_load((folder / "compose.yaml").read_text())
    services = compose["services"]
    assert {"temporal", "temporal-ui", "api", "intake", "worker-dc-a", "worker-dc-b"} <= set(
        services
    )
    assert services["temporal"]["image"].startswith("temporalio/")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui")
    documented = (folder / "secrets" / "README.md").read_text()
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (folder / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
        for env_file in service.get("env_file", []):
            assert (folder / f"{env_file}.example").is_file(), f"{name}: {env_file}.example"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (folder / source).exists(), f"{name}: {source}"
    for name, secret in compose["secrets"].items():
        assert Path(secret["file"]).name in documented, f"secret {name} is not documented"
    sites = {
        services[worker]["environment"]["NIGHTWATCH_SITE"]
        for worker in ("worker-dc-a", "worker-dc-b")
    }
    assert sites == {"dc-a", "dc-b"}


def test_the_dockerfile_copies_what_exists_and_runs_as_a_user() -> None:
    dockerfile = (DEPLOY / "image" / "Dockerfile").read_text()
    assert "RUN deploy/image/install.sh /src /opt/nightwatch" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    for line in re.findall(r"^COPY (?!--from)(.+)$", dockerfile, flags=re.M):
        for source in line.split()[:-1]:
            if source != ".":
                assert (ROOT / source).exists(), source


@pytest.mark.slow
def test_the_image_install_steps_give_a_working_installation(tmp_path: Path) -> None:
    venv = tmp_path / "nightwatch"
    done = subprocess.run(
        [str(DEPLOY / "image" / "install.sh"), str(ROOT), str(venv)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    shown = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            # every role's modules import with only the declared dependencies
            "import api.app, intake.app, runtime.worker, worker, stack.stack, audit.replay; "
            "import console, pathlib; root = pathlib.Path(console.__file__).parent; "
            "print(sorted(p.name for p in (root / 'static' / 'vendor').iterdir())); "
            "print((root / 'templates' / 'dashboard.html').is_file())",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # not the source tree: the installed package
    )
    assert shown.returncode == 0, shown.stderr
    assert "'htmx.min.js'" in shown.stdout and "True" in shown.stdout, shown.stdout
    version = subprocess.run(
        [str(venv / "bin" / "nightwatch"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and "worker" in version.stdout
