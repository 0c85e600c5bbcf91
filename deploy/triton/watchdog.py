"""Replace a dead python-backend model instance: `python -m deploy.triton.watchdog`.

Triton 2.51's python backend neither restarts a stub process that died (the restart of
r24.05 was dropped when decoupled and non-decoupled modes were unified: triton-inference-server
server#7862, #8604) nor marks the model unready: the model stays READY and every request routed
to the dead instance waits a second and fails "Stub process ... is not healthy". The launcher
therefore runs Triton in explicit model-control mode and this watchdog beside it: every
`--interval` it lists the server's stub processes (children of tritonserver, one per model
instance), and when one has died (a zombie, or gone without a successor) it reloads that
model through Triton's repository API. A reload of a READY model brings up fresh instances
before it retires the old ones, so the model's healthy instances keep serving meanwhile.

It exits when the server is gone (restarting a crashed server is the job of `make run`'s
supervisor, deploy/stack/supervisor.py, which starts a fresh watchdog with it). Models that
are not READY (being loaded, or unloaded on purpose) are never reloaded. With several versions
of a model loaded (a rollout), a stub is one version's: its death reloads the model only if
that version is READY (the stubs of a version the rollout unloads exit with it), and the reload
keeps the READY versions, no others.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from deploy.triton.environment import STUB_NAME
from deploy.triton.procs import proc_stat, process_alive
from deploy.triton.repository_api import Repository
from deploy.triton.settings import TritonSettings

__all__ = ["Repository", "Stub", "Watchdog", "main", "stubs_of"]


@dataclass(frozen=True)
class Stub:
    pid: int
    model: str
    instance: str
    dead: bool  # exiting (its command line already gone) or a zombie not yet reaped
    version: str = ""
    """The model version it serves ("" when unknown: it died before it was seen)."""

    @property
    def slot(self) -> tuple[str, str, str]:
        """What a successor must match: the same instance of the same model version."""
        return self.model, self.version, self.instance


def stubs_of(server_pid: int) -> list[Stub]:
    """The python-backend stub processes of a tritonserver, live or zombie.

    A stub's command line is: stub, <repo>/<model>/<version>/model.py, shm region, sizes,
    parent pid, backend dir, ipc key, instance name, ...
    """
    stubs = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = proc_stat(int(entry.name))
        if stat is None or stat.ppid != server_pid:
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not STUB_NAME.startswith(comm):  # comm is cut to 15 characters
            continue
        # an exiting process has an empty command line before it turns zombie: a large model's
        # teardown after kill -9 can take seconds, and it must not be mistaken for a live stub
        exiting = len(argv) < 9 or not argv[1]
        model = "" if exiting else Path(argv[1]).parent.parent.name
        version = "" if exiting else Path(argv[1]).parent.name
        instance = "" if exiting else argv[8]
        dead = exiting or stat.state == "Z"
        stubs.append(Stub(int(entry.name), model, instance, dead, version))
    return stubs


class Watchdog:
    def __init__(self, server_pid: int, repository: Repository, load_timeout: float) -> None:
        self.server_pid = server_pid
        self.repository = repository
        self.load_timeout = load_timeout
        self.live: dict[int, Stub] = {s.pid: s for s in stubs_of(server_pid) if not s.dead}
        self.handled: set[int] = set()

    def dead_stubs(self) -> list[Stub]:
        """Stubs that died since the last look: zombies, or vanished without a successor."""
        current = stubs_of(self.server_pid)
        live_slots = {s.slot for s in current if not s.dead}
        current_pids = {s.pid for s in current}
        # a dead stub's command line is empty: name it from when it was alive
        dead = [self.live.get(s.pid, s) for s in current if s.dead and s.pid not in self.handled]
        dead += [
            s
            for pid, s in self.live.items()
            if pid not in current_pids and s.slot not in live_slots
        ]
        self.live = {s.pid: s for s in current if not s.dead}
        return dead

    def check(self) -> None:
        dead = self.dead_stubs()
        if not dead:
            return
        self.handled.update(s.pid for s in dead)
        try:
            index = self.repository.index()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            say(f"cannot read the model index ({exc}); will look again")
            self.handled.difference_update(s.pid for s in dead)
            return
        ready = {
            (str(m["name"]), str(m.get("version", ""))) for m in index if m.get("state") == "READY"
        }
        unknown = [s for s in dead if not s.model]
        if unknown:
            # died before the first look: its model is whichever runs fewer instances than set
            short = self.short_models(ready)
            pids = ", ".join(str(s.pid) for s in unknown)
            say(f"stub {pids} died before it was seen alive; models short of instances: {short}")
            dead = [s for s in dead if s.model] + [
                Stub(unknown[0].pid, model, "", True) for model in short
            ]
        for model in sorted({s.model for s in dead}):
            pids = ", ".join(str(s.pid) for s in dead if s.model == model)
            if not any(is_ready(ready, s) for s in dead if s.model == model):
                say(f"stub {pids} of model '{model}' died; its version is not READY: left alone")
                continue
            say(f"stub {pids} of model '{model}' died: reloading '{model}'")
            began = time.monotonic()
            try:
                error = self.repository.reload(model, self.load_timeout)
            except (OSError, http.client.HTTPException) as exc:
                error = str(exc)
            took = time.monotonic() - began
            if error is None:
                say(f"reloaded '{model}' in {took:.1f} s: fresh instances serve it")
            else:
                say(f"reloading '{model}' failed after {took:.1f} s: {error}")
        self.live = {s.pid: s for s in stubs_of(self.server_pid) if not s.dead}

    def short_models(self, ready: set[tuple[str, str]]) -> list[str]:
        """Models with fewer live stubs than instances x READY versions."""
        live = [s.model for s in stubs_of(self.server_pid) if not s.dead]
        short = []
        for model in sorted({name for name, _ in ready}):
            try:
                expected = self.repository.instance_count(model)
            except (OSError, http.client.HTTPException, ValueError):
                continue
            versions = sum(1 for name, _ in ready if name == model)
            if expected and live.count(model) < expected * versions:
                short.append(model)
        return short

    def run(self, interval: float) -> int:
        while process_alive(self.server_pid):
            self.check()
            time.sleep(interval)
        say(f"tritonserver pid {self.server_pid} is gone: exiting with it")
        return 0


def is_ready(ready: set[tuple[str, str]], stub: Stub) -> bool:
    """The stub's model version is READY (any version of its model, if its version is unknown)."""
    if stub.version:
        return (stub.model, stub.version) in ready
    return any(name == stub.model for name, _ in ready)


def say(message: str) -> None:
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"watchdog {stamp}: {message}", flush=True)


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.triton.watchdog", description=__doc__)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="Triton's HTTP address")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument(
        "--model-repository", type=Path, help="the server's repository (loads use its configs)"
    )
    settings = TritonSettings.from_env()
    parser.add_argument(
        "--interval",
        type=float,
        default=settings.watchdog_interval_s,
        help="seconds between looks",
    )
    parser.add_argument(
        "--load-timeout",
        type=float,
        default=settings.watchdog_load_timeout_s,
        help="seconds per reload",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    watchdog = Watchdog(
        args.server_pid,
        Repository(args.host, args.http_port, args.model_repository),
        args.load_timeout,
    )
    say(f"watching the model instances of tritonserver pid {args.server_pid}")
    try:
        return watchdog.run(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
