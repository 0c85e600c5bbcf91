"""Static checks of the CPU variant (docker-compose.cpu.yml) and of what both variants share:
the engine's Dockerfile frontend, the optional pip CA secret, Redis persistence.

`make compose-test` runs the CPU variant for real; these hold the files to the same rules in
`make test`, without an engine.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.docker import triton_foreground
from tests.unit.test_compose import (
    ROOT,
    copy_sources,
    dockerignored,
    interpolate,
    load_project,
    parse_dockerfile,
)

CPU_FILE = ROOT / "docker-compose.cpu.yml"
CPU_DOCKERFILE = "deploy/docker/merlin-cpu.Dockerfile"
DOCKERFILES = sorted((ROOT / "deploy" / "docker").glob("*.Dockerfile"))


class Reset:
    """Compose's `!reset` tag: the base file's value is dropped."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!reset", lambda loader, node: Reset())


@pytest.fixture(scope="module")
def cpu() -> dict[str, Any]:
    return dict(yaml.load(CPU_FILE.read_text(), Loader=_Loader))


def test_cpu_override_changes_only_the_merlin_image_and_the_gpu(cpu: dict[str, Any]) -> None:
    assert set(cpu["services"]) == {"trainer", "triton", "rollout"}
    trainer, triton = cpu["services"]["trainer"], cpu["services"]["triton"]
    assert set(trainer) == {"build", "image"}
    # The rollout tool runs in the trainer's image (it exports like the trainer).
    assert cpu["services"]["rollout"] == trainer
    # Same entry point, volumes, healthcheck and ports as docker-compose.yml: none overridden.
    assert set(triton) == {"build", "image", "deploy", "environment", "ulimits"}
    assert isinstance(triton["deploy"], Reset)
    assert set(triton["ulimits"]) == {"memlock"} and isinstance(triton["ulimits"]["memlock"], Reset)
    assert isinstance(triton["environment"]["TF_FORCE_GPU_ALLOW_GROWTH"], Reset)
    assert trainer["build"] == triton["build"] and trainer["image"] == triton["image"]
    assert trainer["build"]["dockerfile"] == CPU_DOCKERFILE
    gpu = load_project().compose["services"]
    assert trainer["image"] != gpu["trainer"]["image"]
    # Sequences are appended by the merge: the secret list must come from the base file only.
    assert "secrets" not in trainer["build"]


def test_cpu_image_installs_the_merlin_lock_and_serves_with_the_launcher(
    cpu: dict[str, Any],
) -> None:
    text = (ROOT / CPU_DOCKERFILE).read_text()
    instructions = parse_dockerfile(text)
    args = dict(i.args.partition("=")[::2] for i in instructions if i.name == "ARG")
    assert args["BASE_IMAGE"] == "python:3.11-slim"
    compose_arg = interpolate(cpu["services"]["trainer"]["build"]["args"]["BASE_IMAGE"], {})
    assert compose_arg == "python:3.11-slim"
    runs = " ".join(i.args for i in instructions if i.name == "RUN")
    assert re.search(r"pip-install\.sh requirements/merlin\.lock\.txt(\s|$)", runs)
    copies = {tuple(i.args.split()) for i in instructions if i.name == "COPY"}
    assert ("deploy/docker/tritonserver", "/usr/local/bin/tritonserver") in copies
    assert ("deploy/triton", "deploy/triton") in copies
    cmd = [i.args for i in instructions if i.name == "CMD"][-1]
    assert cmd == (
        '["tritonserver", "--model-repository=/data/model_repository", '
        '"--model-control-mode=explicit", "--load-model=*"]'
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_sources_exist_and_are_in_the_context(dockerfile: Path) -> None:
    ignore = (ROOT / ".dockerignore").read_text()
    for instruction in parse_dockerfile(dockerfile.read_text()):
        if instruction.name != "COPY":
            continue
        for source in copy_sources(instruction):
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"
            assert not dockerignored(ignore, source), f"{dockerfile.name}: {source} is ignored"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfiles_suit_the_engines_builtin_frontend(dockerfile: Path) -> None:
    """No heredocs (Debian's 20.10 engine predates them), no `# syntax=` (it would pull an
    image), a BASE_IMAGE build argument, and pip runs with the optional pip_ca secret."""
    text = dockerfile.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)
    assert not re.search(r"^RUN\b[^\n]*<<", text, re.M)
    assert re.search(r"^ARG BASE_IMAGE=\S+\nFROM \$\{BASE_IMAGE\}$", text, re.M)
    for instruction in parse_dockerfile(text):
        if instruction.name == "RUN" and "install.sh" in instruction.args:
            assert instruction.args.startswith("--mount=type=secret,id=pip_ca ")


def test_every_build_gets_the_optional_pip_ca_secret_and_host_network() -> None:
    project = load_project()
    for name, service in project.compose["services"].items():
        if "build" in service:
            assert service["build"].get("secrets") == ["pip_ca"], name
            assert service["build"].get("network") == "host", name
    assert project.compose["secrets"]["pip_ca"] == {"file": "/dev/null"}
    given = interpolate(project.raw["secrets"], {"PIP_CA_BUNDLE": "/etc/ca.pem"})
    assert given["pip_ca"]["file"] == "/etc/ca.pem"


def test_redis_keeps_its_data_on_a_volume() -> None:
    redis = load_project().compose["services"]["redis"]
    words = redis["command"]
    assert words[words.index("--appendonly") + 1] == "yes"
    assert words[words.index("--dir") + 1] == "/data"
    assert "redis_data:/data" in redis["volumes"]


def test_the_cpu_tritonserver_takes_the_compose_flags() -> None:
    args, extra = triton_foreground.parse(
        ["--model-repository=/data/model_repository", "--http-port=9000", "--log-verbose=1"]
    )
    assert args.model_repository == Path("/data/model_repository")
    assert (args.http_port, args.grpc_port, args.metrics_port) == (9000, 8001, 8002)
    assert extra == ["--log-verbose=1"]
    with pytest.raises(SystemExit):
        triton_foreground.parse(["--http-port=9000"])  # no repository
