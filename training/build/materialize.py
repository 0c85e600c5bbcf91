"""A build's online state into Redis: its features through Feast, its interaction sets, its
marker, and its place among the builds (`python -m training materialize`, and the build's own
online_store stage)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from services.ensemble.contract import (
    BUILDS_KEY,
    ONLINE_BUILD_KEY,
    build_key,
    feast_project,
)
from services.ensemble.final_score import OrderSettings
from training.build import feature_store, interactions, manifest, migrate_keys
from training.build.artifacts import ARTIFACTS


def materialize(
    build_dir: Path,
    redis_url: str,
    build_id: str,
    serve: bool = True,
    ordering: OrderSettings | None = None,
) -> dict[str, Any]:
    """Write a build's online state into its own namespace (features through Feast, interaction
    sets), then its marker, and register it in BUILDS_KEY; no other build's key is touched.

    `serve`: also name it the served build (ONLINE_BUILD_KEY); else only if none is named yet
    (a rebuild beside a serving stack leaves the served build alone: the rollout switches).
    Each user's shown items are written too when the build's `ordering` reads them (None: as
    its manifest says).
    """
    repo_dir = build_dir / ARTIFACTS["feature_repo"]
    features_online = feature_store.materialize(repo_dir, redis_url, build_id)
    client = feature_store.check_redis(redis_url)
    migrate_keys.tag_online_sets(client)  # online sets named before the hash tags: kept
    pairs = pd.read_parquet(build_dir / ARTIFACTS["interactions"])
    written = interactions.write(client, interactions.clicked_items(pairs), build_id)
    if ordering is None:
        ordering = OrderSettings.from_dict(manifest.read(build_dir).get("ordering"))
    shown_written = {}
    if ordering.reads_shown:
        shown = pd.read_parquet(build_dir / ARTIFACTS["shown"])
        items = interactions.clicked_items(shown)
        shown_written = interactions.write(client, items, build_id, "shown")
    client.set(build_key(build_id), build_id)
    client.zadd(BUILDS_KEY, {build_id: time.time()})
    client.set(ONLINE_BUILD_KEY, build_id, nx=not serve)
    return {
        "project": feast_project(build_id),
        **features_online,
        "interactions": written,
        **({"shown": shown_written} if shown_written else {}),
    }
