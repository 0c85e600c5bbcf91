"""Click attribution's Redis side: sampled answers (with a TTL) and the counters per A/B arm and
model version (HINCRBY, kept forever). Key names: services/ensemble/contract.py."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from services.ensemble.contract import (
    ARMS_KEY,
    UNATTRIBUTED_KEY,
    arm_counts_key,
    clicked_key,
    impression_key,
)
from services.gateway.core.config import Settings
from services.gateway.core.impressions import ArmVersion, Batch, Impression
from services.gateway.core.online_store import REDIS_FAILURES, OnlineStoreUnavailable, connect


@dataclass(frozen=True)
class ArmCounts:
    arm: str
    model_version: str
    requests: int
    """Answers given."""
    recorded: int
    """Answers sampled and written (their items are the impressions)."""
    impressions: tuple[int, ...]
    """Items shown, by position (0 = first)."""
    clicks: tuple[int, ...]
    """Attributed clicks, by position."""

    def within(self, k: int) -> tuple[int, int]:
        """(clicks, impressions) at positions below k."""
        return sum(self.clicks[:k]), sum(self.impressions[:k])


@dataclass(frozen=True)
class Counts:
    arms: tuple[ArmCounts, ...] = ()
    unattributed: dict[str, int] = field(default_factory=dict)
    """Clicks no impression explains, by reason."""


def encode(impression: Impression) -> str:
    shown = [impression.user_id, impression.arm, impression.model_version, impression.item_ids]
    return json.dumps(shown, separators=(",", ":"))


def decode(raw: bytes | str | None) -> Impression | None:
    """None for a missing or unreadable record (written around the gateway)."""
    if raw is None:
        return None
    try:
        user_id, arm, version, items = json.loads(raw)
        return Impression(int(user_id), str(arm), str(version), tuple(int(i) for i in items))
    except (ValueError, TypeError):
        return None


def increments(batch: Batch) -> dict[ArmVersion, Counter[str]]:
    """The batch's counter increments, summed per (arm, version) hash."""
    fields: dict[ArmVersion, Counter[str]] = {}
    for pair, answers in batch.requests.items():
        fields.setdefault(pair, Counter())["requests"] += answers
    for shown in batch.impressions.values():
        counter = fields.setdefault((shown.arm, shown.model_version), Counter())
        counter["recorded"] += 1
        counter.update(f"impressions:{position}" for position in range(len(shown.item_ids)))
    return fields


def arm_counts(arm: str, version: str, fields: dict[Any, Any]) -> ArmCounts:
    """One counters hash read back (bytes or str keys; unknown fields ignored)."""
    values = {_text(name): int(value) for name, value in fields.items()}
    return ArmCounts(
        arm=arm,
        model_version=version,
        requests=values.get("requests", 0),
        recorded=values.get("recorded", 0),
        impressions=_by_position(values, "impressions:"),
        clicks=_by_position(values, "clicks:"),
    )


def _by_position(values: dict[str, int], prefix: str) -> tuple[int, ...]:
    positions = {
        int(name.removeprefix(prefix)): value
        for name, value in values.items()
        if name.startswith(prefix) and name.removeprefix(prefix).isdigit()
    }
    return tuple(positions.get(p, 0) for p in range(max(positions, default=-1) + 1))


def _pair(member: str) -> ArmVersion:
    arm, version = member.split(":", 1)
    return arm, version


def _in_order(pair: ArmVersion) -> tuple[tuple[int, str], ...]:
    """Versions as numbers (2 before 10), names after them."""
    return tuple((int(part), "") if part.isdigit() else (1 << 31, part) for part in pair)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class AttributionStore:
    def __init__(self, client: aioredis.Redis | RedisCluster) -> None:
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> AttributionStore:
        return cls(connect(settings))

    async def write(self, batch: Batch, ttl_s: int) -> None:
        """The batch's impressions (each expiring after ttl_s) and counter increments, in one
        pipeline (not a transaction: the keys live in different cluster slots)."""
        pipe = self._client.pipeline(transaction=False)
        for request_id, shown in batch.impressions.items():
            pipe.set(impression_key(request_id), encode(shown), ex=ttl_s)
        for (arm, version), fields in increments(batch).items():
            for name, amount in fields.items():
                pipe.hincrby(arm_counts_key(arm, version), name, amount)
            pipe.sadd(ARMS_KEY, f"{arm}:{version}")
        await self._run(pipe.execute(), "pipeline")

    async def impression(self, request_id: str) -> Impression | None:
        return decode(await self._run(self._client.get(impression_key(request_id)), "GET"))

    async def first_click(self, request_id: str, item_id: int, ttl_s: int) -> bool:
        """True the first time this (answer, item) click is seen."""
        key = clicked_key(request_id, item_id)
        return bool(await self._run(self._client.set(key, 1, nx=True, ex=ttl_s), "SET"))

    async def count_click(self, arm: str, version: str, position: int) -> None:
        key = arm_counts_key(arm, version)
        await self._run(self._client.hincrby(key, f"clicks:{position}", 1), "HINCRBY")

    async def count_unattributed(self, reason: str) -> None:
        await self._run(self._client.hincrby(UNATTRIBUTED_KEY, reason, 1), "HINCRBY")

    async def counts(self) -> Counts:
        members = await self._run(self._client.smembers(ARMS_KEY), "SMEMBERS")
        pairs = sorted((_pair(_text(m)) for m in members if ":" in _text(m)), key=_in_order)
        pipe = self._client.pipeline(transaction=False)
        for arm, version in pairs:
            pipe.hgetall(arm_counts_key(arm, version))
        pipe.hgetall(UNATTRIBUTED_KEY)
        *hashes, unattributed = await self._run(pipe.execute(), "pipeline")
        arms = (
            arm_counts(arm, version, h) for (arm, version), h in zip(pairs, hashes, strict=True)
        )
        reasons = {_text(name): int(value) for name, value in unattributed.items()}
        return Counts(tuple(arms), reasons)

    async def close(self) -> None:
        await self._client.aclose()

    @staticmethod
    async def _run(command: Awaitable[Any] | Any, name: str) -> Any:
        # redis-py types commands as sync-or-async; this client is the asyncio one
        try:
            return await cast(Awaitable[Any], command)
        except REDIS_FAILURES as exc:
            raise OnlineStoreUnavailable(f"Redis {name} failed: {exc!r}") from exc
