"""What a measurement ran on: the machine, the git commit, and how busy the CPU was."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def machine(*packages: str) -> dict[str, Any]:
    """CPU model, cores, platform, Python, memory (with psutil) and the versions of `packages`."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30)
    except ImportError:
        pass
    for name in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[name] = metadata.version(name)
    return info


def _cpu_model() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    return next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
        platform.processor(),
    )


def git_commit(repo: Path) -> dict[str, Any]:
    """HEAD of `repo` and whether tracked files differ from it (None: no git)."""
    commit = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def _git(repo: Path, *arguments: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *arguments],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def cpu_times() -> Any:
    """psutil.cpu_times() of the whole machine, or None without psutil."""
    try:
        import psutil

        return psutil.cpu_times()
    except ImportError:
        return None


def busy_cores(before: Any, after: Any) -> float | None:
    """Cores the whole machine kept busy between two `cpu_times()` readings."""
    if before is None or after is None:
        return None
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    cores = os.cpu_count() or 1
    return round((1 - idle / total) * cores, 2) if total > 0 else None
