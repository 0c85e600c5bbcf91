"""Checks against the machine before any load: the build, --out, the servers; then --out is made."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from loadtests.errors import InputError
from loadtests.settings import RunSettings
from loadtests.user_table import check_user_table

READY_TIMEOUT_S = 3.0


def prepare(settings: RunSettings) -> str | None:
    """Files first, then whether the servers answer; --out is made last.

    Returns bench_triton's --url (host:port) when --triton-url is given and Triton is reachable.
    """
    check_user_table(settings.build)
    triton = settings.triton
    if triton and not settings.merlin_python.exists():
        raise InputError(
            f"{settings.merlin_python} missing (run `make setup`): needed for --triton-url"
        )
    check_out(settings.out)
    wait_ready(settings.host)
    triton_url = check_reachable(*triton) if triton else None
    make_out(settings.out)
    return triton_url


def check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out} exists and is not an empty directory")


def wait_ready(base: str) -> None:
    """Returns once the gateway's /readyz answers 200 (waits at most READY_TIMEOUT_S)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    problem = ""
    for _ in range(50):  # bounded in count and by the deadline
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"/readyz answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    raise InputError(f"gateway at {base} is not ready: {problem}")


def check_reachable(host: str, port: int) -> str:
    """host:port for bench_triton, once a TCP connection to Triton succeeds."""
    try:
        with socket.create_connection((host, port), timeout=2):
            pass
    except OSError as exc:
        raise InputError(f"Triton at {host}:{port} is not reachable: {exc}") from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create --out {out}: {exc}") from None
