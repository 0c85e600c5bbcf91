"""The steps of `deploy` and `rollback`, against a running Triton in explicit model-control mode.

deploy: materialize the build's namespace (no other build's key is touched) -> export it as the
next version folder of executor_model beside the served one -> load both versions (Triton's
load with the live config, only `version_policy` changed: the served version is not reloaded)
-> check the new version answers a known user and an unknown user correctly -> the switch: name
it the served version (SERVED_VERSION_KEY) and its build the served build (ONLINE_BUILD_KEY), wait
RECSYS_ROLLOUT_SWITCH_WAIT_S for every gateway to follow -> load only the new version (the old one
is unloaded) -> garbage-collect old version folders and namespaces (keep the newest N).
The gateways name SERVED_VERSION_KEY's version in their requests, so the new version takes no
gateway traffic before the switch, although Triton serves requests that name no version from its
highest READY version. Before the first rollout the key is unset: the load step first names the
served version there (and waits the same time), so the gateways keep to it.

rollback: the same towards the highest version folder below the served one (its namespace must
still be in Redis); the version rolled back from is unloaded and its folder removed, so a
restarted Triton (which loads the highest folder) serves the same version.

A failure at any step leaves the served version serving: the new version is unloaded (if it
was loaded) and its folder removed, and one line says which step failed and why (exit 1).
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.rollout import checks, namespaces, versions
from deploy.rollout.settings import RolloutError, RolloutSettings
from deploy.triton.repository_api import Repository
from services.ensemble.contract import (
    MODEL_NAME,
    ONLINE_BUILD_KEY,
    SERVED_VERSION_KEY,
    build_key,
)


def say(message: str) -> None:
    print(f"[rollout] {message}", flush=True)


@dataclass
class Live:
    """The running system: Triton's repository API, the live model folder, Redis."""

    settings: RolloutSettings
    api: Repository
    model_dir: Path
    redis: Any
    served: int

    @property
    def timeout(self) -> float:
        return self.settings.load_timeout_s


def connect(settings: RolloutSettings) -> Live:
    from training.build.feature_store import check_redis
    from training.errors import BuildError

    api = Repository(settings.triton_host, settings.triton_http_port, settings.model_repository)
    where = f"Triton at {settings.triton_host}:{settings.triton_http_port}"
    try:
        ready = api.ready_versions(MODEL_NAME)
    except (OSError, ValueError) as exc:
        raise RolloutError(f"cannot reach {where} ({exc}): is the stack running?") from None
    if not ready:
        raise RolloutError(f"{where} serves no version of {MODEL_NAME}")
    try:
        redis = check_redis(settings.online_store)
    except BuildError as exc:
        raise RolloutError(str(exc)) from None
    key = redis.get(SERVED_VERSION_KEY)
    named = int(key) if key and key.isdigit() else None
    served = named if named in ready else max(ready)  # an interrupted rollout loaded two
    model_dir = settings.model_repository / MODEL_NAME
    if served not in versions.version_dirs(model_dir):
        raise RolloutError(f"{model_dir} has no folder of served version {served}", 2)
    return Live(settings, api, model_dir, redis, served=served)


@contextmanager
def step(live: Live, action: str, name: str) -> Iterator[None]:
    """Turn any failure of the step into one RolloutError line naming it."""
    try:
        yield
    except RolloutError:
        raise
    except Exception as exc:  # the step's own words, on one line
        reason = (str(exc) or type(exc).__name__).splitlines()[0]
        raise RolloutError(
            f"{action} failed at {name}: {reason}; version {live.served} still serves"
        ) from exc


@contextmanager
def locked(settings: RolloutSettings) -> Iterator[None]:
    """One rollout at a time per repository."""
    settings.model_repository.mkdir(parents=True, exist_ok=True)
    with (settings.model_repository / ".rollout.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RolloutError("another rollout is running on this repository") from None
        yield


def deploy(settings: RolloutSettings) -> None:
    from training.build import manifest

    try:
        build_id = manifest.build_id(settings.build_dir)
    except (OSError, ValueError, KeyError) as exc:
        raise RolloutError(
            f"BUILD_DIR {settings.build_dir}: no complete build ({exc})", 2
        ) from None
    with locked(settings):
        live = connect(settings)
        if versions.build_of(live.model_dir, live.served) == build_id:
            say(f"build {build_id} already serves as version {live.served}: nothing to do")
            return
        action = f"deploy of build {build_id}"
        with step(live, action, "materialize"):
            materialize(live, build_id)
        new = versions.next_version(live.model_dir, [live.served])
        try:
            with step(live, action, f"export of version {new}"):
                _export(settings, new)
            switch(live, action, new)
        except RolloutError:
            revert(live, new)
            raise
        collect(live)


def rollback(settings: RolloutSettings) -> None:
    with locked(settings):
        live = connect(settings)
        earlier = [v for v in versions.version_dirs(live.model_dir) if v < live.served]
        if not earlier:
            raise RolloutError(
                f"no version below {live.served} in {live.model_dir} to roll back to"
            )
        target = earlier[-1]
        build_id = versions.build_of(live.model_dir, target)
        action = f"rollback to version {target} (build {build_id})"
        with step(live, action, "online state"):
            if build_id is None or not live.redis.exists(build_key(build_id)):
                raise ValueError(f"Redis holds no state of build {build_id}: deploy it again")
        left = live.served
        try:
            switch(live, action, target)
        except RolloutError:
            revert(live, target, remove=False)
            raise
        versions.remove(live.model_dir, left)  # a restarted Triton loads the highest folder
        say(f"removed version folder {left}")
        collect(live)


def materialize(live: Live, build_id: str) -> None:
    from training.build.feature_store import missing_online_state
    from training.build.materialize import materialize as write_state

    build_dir = live.settings.build_dir
    written = write_state(build_dir, live.settings.online_store, build_id, serve=False)
    missing = missing_online_state(build_dir, live.settings.online_store, build_id)
    if missing is not None:
        raise ValueError(missing)
    say(f"materialized build {build_id}: {written['keys_written']} feature keys")


def _export(settings: RolloutSettings, version: int) -> None:
    from training.build.export import export_repository

    folder = export_repository(settings.build_dir, settings.model_repository, version=version)
    say(f"exported version {version} to {folder}")


def switch(live: Live, action: str, new: int) -> None:
    """Load `new` beside the served version, check it, then serve it alone."""
    old = live.served
    with step(live, action, f"load of version {new}"):
        name_served(live, old)  # the gateways keep to it while the new one loads
        failed = live.api.load_versions(MODEL_NAME, [old, new], live.timeout)
        if failed or new not in live.api.ready_versions(MODEL_NAME):
            raise ValueError(failed or f"version {new} is not READY after its load")
    say(f"version {new} loaded beside version {old}")
    with step(live, action, f"check of version {new}"):
        known, unknown = versions.users_of(live.model_dir, new)
        wrong = checks.problem(live.api, new, known, unknown, live.settings.check_timeout_s)
        if wrong:
            raise ValueError(wrong)
    say(f"version {new} answers known user {known} and unknown user {unknown} correctly")
    with step(live, action, f"switch to version {new}"):
        build_id = versions.build_of(live.model_dir, new)
        live.redis.set(ONLINE_BUILD_KEY, str(build_id))
        name_served(live, new)
    say(f"version {new} (build {build_id}) serves; version {old} stays loaded until the switch")
    with step(live, action, f"unload of version {old}"):
        failed = live.api.load_versions(MODEL_NAME, [new], live.timeout)
        if failed or live.api.ready_versions(MODEL_NAME) != [new]:
            raise ValueError(failed or f"versions {live.api.ready_versions(MODEL_NAME)} READY")
    say(f"version {old} unloaded")
    live.served = new


def name_served(live: Live, version: int) -> None:
    """Name `version` the served one in Redis (if it is not already), then wait until every
    gateway follows and what they sent to the version named before is answered."""
    if live.redis.get(SERVED_VERSION_KEY) == str(version).encode():
        return
    live.redis.set(SERVED_VERSION_KEY, version)
    say(f"served version {version} named; waiting {live.settings.switch_wait_s:g} s for gateways")
    time.sleep(live.settings.switch_wait_s)


def revert(live: Live, new: int, remove: bool = True) -> None:
    """Serve the old version alone again; remove the new version's folder (a deploy's)."""
    try:  # also when the load failed: the live config's version policy names the old alone
        put_back_served(live)
        failed = live.api.load_versions(MODEL_NAME, [live.served], live.timeout)
        if remove and new not in live.api.ready_versions(MODEL_NAME):
            versions.remove(live.model_dir, new)
    except Exception as exc:  # best effort: the step's own error is what gets reported
        failed = str(exc) or type(exc).__name__
    if failed:
        say(f"could not bring back version {live.served} alone: {failed}")


def put_back_served(live: Live) -> None:
    """The served version (and its build) named in Redis again if the switch had named the new
    one; untouched otherwise (a failure before the switch). Never unset here: the gateways would
    then ask for Triton's latest, which may be the new version until its unload."""
    if live.redis.get(SERVED_VERSION_KEY) == str(live.served).encode():
        return
    live.redis.set(SERVED_VERSION_KEY, live.served)
    build_id = versions.build_of(live.model_dir, live.served)
    if build_id is not None:
        live.redis.set(ONLINE_BUILD_KEY, build_id)


def collect(live: Live) -> None:
    loaded = live.api.ready_versions(MODEL_NAME)
    for line in namespaces.collect(live.redis, live.model_dir, live.settings.keep_builds, loaded):
        say(line)
