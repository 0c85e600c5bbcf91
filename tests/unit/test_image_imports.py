"""Every first-party module the images' code imports is copied into the image: a module moved
or added outside the Dockerfile's COPY lines fails here, not as an unhealthy container."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("merlin-cpu.Dockerfile", "merlin.Dockerfile", "gateway.Dockerfile")
FIRST_PARTY = ("deploy", "services", "training", "loadtests")


def copied_files(dockerfile: Path) -> set[Path]:
    """The repository's .py files the Dockerfile's COPY lines bring in (relative paths)."""
    files: set[Path] = set()
    for line in dockerfile.read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)
        if any(w.startswith("--from") for w in words):
            continue
        for source in (w for w in words[1:-1] if not w.startswith("--")):
            path = ROOT / source
            if path.is_dir():
                files |= {p.relative_to(ROOT) for p in path.rglob("*.py")}
            elif path.suffix == ".py":
                files.add(Path(source))
    return files


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in modules if m.split(".")[0] in FIRST_PARTY}


def module_files(module: str) -> list[Path]:
    """The files that can hold `module` (a module file or a package's __init__); none when the
    name is an attribute of its parent, not a module."""
    parts = Path(*module.split("."))
    return [p for p in (parts.with_suffix(".py"), parts / "__init__.py") if (ROOT / p).exists()]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_imported_module_is_in_the_image(name: str) -> None:
    copied = copied_files(ROOT / "deploy" / "docker" / name)
    missing = set()
    for path in copied:
        for module in imported_modules(ROOT / path):
            files = module_files(module)
            if files and not any(f in copied for f in files):
                missing.add(f"{path} imports {module}")
    assert not missing, sorted(missing)
