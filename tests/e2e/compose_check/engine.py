"""The Docker engine (the running one, or dockerd started here), the base images, free host
ports and the host pip's CA bundle."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.compose_check.common import OFFICIAL_BASES, ROOT, EnvironmentMissing, run


def engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return done.returncode == 0


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EnvironmentMissing(
            f"need {', '.join(packages)}: install them (Debian: apt-get, root)"
        )
    print(f"  apt-get install {' '.join(packages)}", flush=True)
    run(["apt-get", "update", "-qq"], timeout=300)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "install", "-y", "-qq", *packages], env=env, timeout=600)


def start_engine(log_dir: Path) -> subprocess.Popen[bytes] | None:
    """The running engine (None), or dockerd started here (its process, to stop at the end)."""
    if engine_answers():
        return None
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        apt_install("docker.io")
    log = (log_dir / "dockerd.log").open("wb")
    process = subprocess.Popen(
        ["dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EnvironmentMissing(f"dockerd exited {process.returncode}: see {log.name}")
        if engine_answers():
            print(f"  started dockerd, pid {process.pid} (log {log_dir / 'dockerd.log'})")
            return process
        time.sleep(1)
    stop_engine(process)
    raise EnvironmentMissing("dockerd did not answer within 60 s")


def stop_engine(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    print(f"stopped dockerd pid {process.pid} (exit {process.returncode})")


def base_images(choice: str) -> dict[str, str]:
    """Build arguments for the base images: the official ones, or local stand-ins."""
    present = all(
        subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode == 0
        for image in OFFICIAL_BASES.values()
    )
    if choice == "official" or (choice == "auto" and present):
        return dict(OFFICIAL_BASES)
    if shutil.which("debootstrap") is None:
        apt_install("debootstrap")
    script = ROOT / "deploy/docker/make-base-images.sh"
    image = run([str(script)], timeout=900).stdout.strip().splitlines()[-1]
    return {"PYTHON_BASE_IMAGE": image, "REDIS_IMAGE": image}


def free_ports(count: int) -> list[int]:  # type: ignore[return]  # ExitStack.__exit__ is typed bool
    """`count` different ports, free now (held open together, so the kernel cannot repeat one)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def pip_ca_bundle() -> str | None:
    """The CA bundle the host's pip trusts (PIP_CA_BUNDLE, PIP_CERT or `pip config`), if any."""
    for name in ("PIP_CA_BUNDLE", "PIP_CERT"):
        if os.environ.get(name):
            return os.environ[name]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"],
        capture_output=True,
        text=True,
        check=False,
    )
    path = done.stdout.strip()
    return path if done.returncode == 0 and path and Path(path).is_file() else None
