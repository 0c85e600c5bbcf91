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

It exits when the server is gone. Models that are not READY (being loaded, or unloaded on
purpose) are never reloaded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from deploy.triton.environment import STUB_NAME
from deploy.triton.procs import proc_stat, process_alive
from deploy.triton.settings import TritonSettings


@dataclass(frozen=True)
class Stub:
    pid: int
    model: str
    instance: str
    dead: bool  # exiting (its command line already gone) or a zombie not yet reaped


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
        instance = "" if exiting else argv[8]
        stubs.append(Stub(int(entry.name), model, instance, dead=exiting or stat.state == "Z"))
    return stubs


class Repository:
    """Triton's model repository API over HTTP (loopback, no proxy)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def _call(
        self, method: str, path: str, timeout: float, body: bytes | None = None
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def ready_models(self) -> set[str]:
        status, body = self._call("POST", "/v2/repository/index", timeout=5.0, body=b"{}")
        if status != 200:
            return set()
        return {m["name"] for m in json.loads(body) if m.get("state") == "READY"}

    def config(self, model: str) -> dict[str, Any]:
        status, body = self._call("GET", f"/v2/models/{model}/config", timeout=10.0)
        if status != 200:
            raise ValueError(f"cannot read the config of '{model}' (HTTP {status})")
        config: dict[str, Any] = json.loads(body)
        return config

    def instance_count(self, model: str) -> int:
        """Python-backend instances the model runs (0 for an ensemble: no process of its own)."""
        config = self.config(model)
        if config.get("backend") != "python":
            return 0
        return sum(int(group.get("count", 1)) for group in config.get("instance_group", []))

    def reload(self, model: str, timeout: float) -> str | None:
        """None on success, else Triton's error message.

        A plain load of a loaded model whose files did not change is a no-op in Triton 2.51
        (measured: it returned at once, the dead instance stayed). So the load carries the
        model's own config with one parameter changed: a new config forces fresh instances,
        and the old ones are retired only once those are ready.
        """
        try:
            config = self.config(model)
        except ValueError as exc:
            return str(exc)
        config.setdefault("parameters", {})["watchdog_reload"] = {
            "string_value": str(time.time_ns())
        }
        request = json.dumps({"parameters": {"config": json.dumps(config)}}).encode()
        path = f"/v2/repository/models/{model}/load"
        status, body = self._call("POST", path, timeout=timeout, body=request)
        if status == 200:
            return None
        try:
            return str(json.loads(body).get("error", body[:200]))
        except ValueError:
            return body[:200].decode(errors="replace")


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
        live_instances = {s.instance for s in current if not s.dead}
        current_pids = {s.pid for s in current}
        # a dead stub's command line is empty: name it from when it was alive
        dead = [self.live.get(s.pid, s) for s in current if s.dead and s.pid not in self.handled]
        dead += [
            s
            for pid, s in self.live.items()
            if pid not in current_pids and s.instance not in live_instances
        ]
        self.live = {s.pid: s for s in current if not s.dead}
        return dead

    def check(self) -> None:
        dead = self.dead_stubs()
        if not dead:
            return
        self.handled.update(s.pid for s in dead)
        try:
            ready = self.repository.ready_models()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            say(f"cannot read the model index ({exc}); will look again")
            self.handled.difference_update(s.pid for s in dead)
            return
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
            if model not in ready:
                say(f"stub {pids} of model '{model}' died; the model is not READY: left alone")
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

    def short_models(self, ready: set[str]) -> list[str]:
        live = [s.model for s in stubs_of(self.server_pid) if not s.dead]
        short = []
        for model in sorted(ready):
            try:
                expected = self.repository.instance_count(model)
            except (OSError, http.client.HTTPException, ValueError):
                continue
            if expected and live.count(model) < expected:
                short.append(model)
        return short

    def run(self, interval: float) -> int:
        while process_alive(self.server_pid):
            self.check()
            time.sleep(interval)
        return 0


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
    watchdog = Watchdog(args.server_pid, Repository(args.host, args.http_port), args.load_timeout)
    say(f"watching the model instances of tritonserver pid {args.server_pid}")
    try:
        return watchdog.run(args.interval)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
