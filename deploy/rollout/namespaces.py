"""Garbage collection of old builds: their version folders and their online state in Redis.

A build's state lives in its own namespace (services/ensemble/contract.py): Feast's keys ending
with `feast_project(build_id)`, the keys under `build_prefix(build_id)`, and its entry in
BUILDS_KEY. A namespace is removed only when no loaded version serves its build, none of the
newest `keep` version folders does, and it is not among the `keep` newest materialized builds
(a build materialized for a deploy that has not happened yet stays).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deploy.rollout import versions
from services.ensemble.contract import (
    BUILDS_KEY,
    ONLINE_BUILD_KEY,
    build_key,
    build_prefix,
    feast_project,
)
from services.ensemble.redis_store import delete_each


def drop(client: Any, build_id: str) -> int:
    """Delete build `build_id`'s namespace (its marker first); the number of keys deleted."""
    deleted = int(client.delete(build_key(build_id)))
    feast_keys = client.scan_iter(match=b"*" + feast_project(build_id).encode(), count=1000)
    deleted += delete_each(client, list(feast_keys))
    own = client.scan_iter(match=f"{build_prefix(build_id)}*", count=1000)
    deleted += delete_each(client, list(own))
    client.zrem(BUILDS_KEY, build_id)
    return deleted


def collect(client: Any, model_dir: Path, keep: int, loaded: list[int]) -> list[str]:
    """Remove old version folders and namespaces; one line per removal, for the log."""
    done = []
    on_disk = versions.version_dirs(model_dir)
    kept = set(on_disk[-keep:]) | set(loaded)
    for version in on_disk:
        if version not in kept:
            versions.remove(model_dir, version)
            done.append(f"removed version folder {version}")
    builds = {versions.build_of(model_dir, version) for version in kept}
    served = client.get(ONLINE_BUILD_KEY)
    if served is not None:
        builds.add(served.decode())
    newest = {member.decode() for member in client.zrevrange(BUILDS_KEY, 0, keep - 1)}
    for member in client.zrange(BUILDS_KEY, 0, -1):
        build_id = member.decode()
        if build_id not in builds and build_id not in newest:
            done.append(f"removed build {build_id}'s online state ({drop(client, build_id)} keys)")
    return done
