"""manifest.json: what a build holds. Written last, so its presence marks a complete build."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

from services.ensemble.contract import build_id_of
from training.errors import BuildError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
PACKAGES = (
    "merlin-core",
    "merlin-models",
    "merlin-systems",
    "nvtabular",
    "tensorflow-cpu",
    "feast",
    "faiss-cpu",
    "numpy",
    "pandas",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def write(build_dir: Path, content: dict[str, Any]) -> Path:
    path = build_dir / MANIFEST
    document = {"format_version": FORMAT_VERSION, "complete": True, **content}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return path


def read(build_dir: Path) -> dict[str, Any]:
    """The manifest of a complete build; FileNotFoundError if there is none."""
    document: dict[str, Any] = json.loads((build_dir / MANIFEST).read_text())
    if not document.get("complete"):
        raise FileNotFoundError(f"{build_dir} holds no complete build")
    return document


def build_id(build_dir: Path) -> str:
    """The id of the complete build in `build_dir` (contract.build_id_of its manifest)."""
    return build_id_of(read(build_dir))


def is_build(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def check_replaceable(out: Path) -> None:
    """A build may replace only an earlier build or an empty directory, never other files."""
    if out.exists() and not (out.is_dir() and (is_build(out) or not any(out.iterdir()))):
        raise BuildError(f"--out {out} exists and is not a build directory: refusing to replace it")
