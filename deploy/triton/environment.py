"""What tritonserver needs around it: the wheel's binary, a private backend directory with the
python-backend stub for the right Python, and an environment where the stub finds that Python."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from deploy.triton.errors import ConfigError

STUB_NAME = "triton_python_backend_stub"
VENV_QUERY_TIMEOUT_S = 60.0
"""How long `--python-venv`'s interpreter may take to report its version and LIBDIR."""


@dataclass(frozen=True)
class PythonEnv:
    """The Python environment the python-backend stub runs model code in."""

    prefix: Path
    bin_dir: Path
    version: str  # "3.11"
    libdir: Path  # holds libpython3.X.so.1.0


def find_tritonserver() -> Path:
    """The ``tritonserver`` binary inside the installed ``pytriton`` package (not imported)."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pytriton is not installed: pip install --no-deps nvidia-pytriton==0.7.0")
    binary = Path(next(iter(spec.submodule_search_locations))) / "tritonserver/bin/tritonserver"
    if not os.access(binary, os.X_OK):
        raise ConfigError(f"no executable tritonserver binary at {binary}")
    return binary


def _query_venv(venv: Path) -> tuple[Path, str, Path]:
    """(prefix, X.Y, LIBDIR) of the virtualenv's own python."""
    python = venv / "bin" / "python"
    if not os.access(python, os.X_OK):
        raise ConfigError(f"--python-venv {venv}: no executable {python}")
    code = (
        "import json, sys, sysconfig; print(json.dumps([sys.prefix, "
        "'%d.%d' % sys.version_info[:2], sysconfig.get_config_var('LIBDIR')]))"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code],
            capture_output=True,
            text=True,
            timeout=VENV_QUERY_TIMEOUT_S,
            check=True,
        ).stdout
        prefix, version, libdir = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise ConfigError(f"--python-venv {venv}: cannot query its python ({exc})") from None
    return Path(prefix), str(version), Path(str(libdir))


def python_env(venv: Path | None = None) -> PythonEnv:
    """The running interpreter's environment, or that of the virtualenv ``venv``."""
    if venv is None:
        prefix = Path(sys.prefix)
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        libdir = Path(str(sysconfig.get_config_var("LIBDIR")))
    else:
        prefix, version, libdir = _query_venv(venv)
    if not (libdir / f"libpython{version}.so.1.0").exists():
        raise ConfigError(
            f"libpython{version}.so.1.0 not found in {libdir}: the python backend stub needs a "
            "Python built with --enable-shared"
        )
    return PythonEnv(prefix=prefix, bin_dir=prefix / "bin", version=version, libdir=libdir)


def prepare_backend_dir(server_root: Path, run_dir: Path, version: str) -> Path:
    """A private ``--backend-directory``: the wheel's python backend plus the stub for ``version``.

    The wheel's own ``backends/python`` is never written to (it may be read-only or shared by
    several environments). The backend library and utils module are symlinked; the stub is copied
    (atomically, only when it changed), so a running server keeps its file.
    """
    source = server_root / "backends" / "python"
    stub = server_root / "python_backend_stubs" / version / STUB_NAME
    if not stub.is_file():
        have = sorted(p.name for p in (server_root / "python_backend_stubs").glob("*"))
        raise ConfigError(f"no python backend stub for Python {version} (have: {', '.join(have)})")
    backends = run_dir / "backends"
    target = backends / "python"
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            _link(item, target / item.name)
    dest = target / STUB_NAME
    if not (dest.is_file() and filecmp.cmp(stub, dest, shallow=True)):
        tmp = target / f".{STUB_NAME}.{os.getpid()}"
        shutil.copy2(stub, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, dest)
    return backends


def _link(item: Path, link: Path) -> None:
    """``link`` -> ``item``, replaced atomically unless it already points there."""
    if link.is_symlink() and os.readlink(link) == str(item):
        return
    tmp = link.with_name(f".{item.name}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(item)
    os.replace(tmp, link)


def server_env(env: PythonEnv, server_root: Path) -> dict[str, str]:
    """The server's environment: libpython and the wheel's bundled libs found, the venv first."""
    result = dict(os.environ)
    result.pop("PYTHONHOME", None)
    # The stub's RPATH ($ORIGIN/../../../../nvidia_pytriton.libs) only works from inside the
    # wheel; from the private backend dir its bundled libcudart must come from LD_LIBRARY_PATH.
    bundled = server_root.parent.parent / "nvidia_pytriton.libs"
    libs = [str(env.libdir)] + ([str(bundled)] if bundled.is_dir() else [])
    result["LD_LIBRARY_PATH"] = _prepend(libs, result.get("LD_LIBRARY_PATH", ""))
    result["PATH"] = _prepend([str(env.bin_dir)], result.get("PATH", ""))
    result["VIRTUAL_ENV"] = str(env.prefix)
    # Triton reloads a loaded model version whose folder changed since its load (rollouts load
    # a new version beside it): a model process must not write __pycache__ into it.
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    return result


def _prepend(first: list[str], rest: str) -> str:
    return os.pathsep.join([*first, rest]).rstrip(os.pathsep)
