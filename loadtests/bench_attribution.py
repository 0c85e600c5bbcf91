"""What click attribution costs GET /recommend, in process (not a test): the gateway's app driven
at the ASGI level (middlewares, routing, dependencies, the handler, the JSON answer; no socket)
with a constant ranking instead of Triton, three ways (VARIANTS): recording every answer
(GATEWAY_ATTRIBUTION_SHARE=1, no rate cap), counting answers only (share 0), and without
attribution on the request path. The background flusher runs as in the gateway, writing to a
real Redis every GATEWAY_ATTRIBUTION_FLUSH_S on the same event loop, so its share of the CPU is
in the figures. Rounds rotate the variants' order; each round's mean time per request is
printed (CPU time of this process: the flusher's included, Redis' not), then each variant's
median and its difference to the one without attribution.

    .venvs/gateway/bin/python -m loadtests.bench_attribution --redis redis://127.0.0.1:6379/15 \\
        [--rounds 10] [--requests 2000]

It writes attribution keys into that Redis database (expiring ones, and counters under
`multi_stage_recsys:attribution:`): use a spare database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from fastapi import FastAPI
from pydantic import SecretStr

from services.gateway.core.attribution import ImpressionFlusher
from services.gateway.core.attribution_store import AttributionStore
from services.gateway.core.config import Settings
from services.gateway.core.triton import Ranking
from services.gateway.main import create_app

RANKING = Ranking(
    item_ids=list(range(1_000_003, 1_000_013)),
    scores=[1 - i / 10 for i in range(10)],
    fallback=False,
    model_version=1,
)


class ConstantRecommender:
    """Triton's stand-in: the same ten items for everyone, at once."""

    async def rank(self, user_id: int, explain: bool = False) -> Ranking:
        return RANKING


def app_for(redis_url: str, share: float) -> FastAPI:
    settings = Settings(
        redis_url=SecretStr(redis_url), attribution_share=share, attribution_max_per_s=0
    )
    app = create_app(settings)
    # the app's own dependencies read these (an override would be analysed on every request)
    app.state.recommender = ConstantRecommender()
    app.state.attribution_store = AttributionStore.from_settings(settings)
    return app


async def one_request(app: FastAPI, user_id: int) -> int:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/recommend",
        "raw_path": b"/recommend",
        "query_string": f"user_id={user_id}".encode(),
        "headers": [(b"host", b"bench")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)  # type: ignore[arg-type]
    return status


async def round_us(app: FastAPI, requests: int, first_user: int) -> float:
    """CPU microseconds of this process per request over `requests` sequential requests (CPU,
    not wall time: the machine's other work shows less in it)."""
    start = time.process_time()
    for user in range(first_user, first_user + requests):
        status = await one_request(app, user)
        if status != 200:
            raise SystemExit(f"error: GET /recommend answered {status}")
        await asyncio.sleep(0)  # a server's socket I/O lets the loop's other tasks run here
    return (time.process_time() - start) / requests * 1e6


VARIANTS = ("recording", "counted", "absent")
"""recording: every answer recorded and written; counted: share 0, each answer only counted
for its arm; absent: `offer` does nothing, the request path as before attribution (but for
resolving the log's dependency)."""


def variant_app(redis_url: str, variant: str) -> FastAPI:
    app = app_for(redis_url, 1.0 if variant == "recording" else 0.0)
    if variant == "absent":
        app.state.impression_log.offer = lambda *args: None
    return app


def flusher_of(app: FastAPI) -> ImpressionFlusher:
    state = app.state
    return ImpressionFlusher(
        state.impression_log,
        state.attribution_store,
        state.latest_counts,
        state.settings,
        state.metrics,
    )


async def bench(redis_url: str, rounds: int, requests: int) -> dict[str, list[float]]:
    apps = {variant: variant_app(redis_url, variant) for variant in VARIANTS}
    flushers = [flusher_of(app) for app in apps.values()]
    for flusher in flushers:
        flusher.start()
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    try:
        for app in apps.values():
            await round_us(app, requests, 0)  # warm up
        for number in range(rounds):
            order = VARIANTS[number % 3 :] + VARIANTS[: number % 3]  # each first in turn
            for variant in order:
                times[variant].append(await round_us(apps[variant], requests, number * requests))
                print(f"round {number + 1:>2} {variant:<9} {times[variant][-1]:7.1f} us/request")
    finally:
        for flusher, app in zip(flushers, apps.values(), strict=True):
            await flusher.close()
            await app.state.attribution_store.close()
    written = apps["recording"].state.metrics.registry.get_sample_value(
        "gateway_impressions_written_total"
    )
    print(f"answers written to Redis while recording: {written:.0f}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_attribution", description=__doc__
    )
    parser.add_argument("--redis", required=True, help="a spare database, e.g. redis://h:p/15")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=2000, help="per round")
    args = parser.parse_args(argv)
    times = asyncio.run(bench(args.redis, args.rounds, args.requests))
    medians = {variant: statistics.median(times[variant]) for variant in VARIANTS}
    base = medians["absent"]
    for variant, value in medians.items():
        print(
            f"median of {args.rounds} rounds, {variant:<9} {value:7.1f} us/request "
            f"({value - base:+.1f} us, {100 * (value - base) / base:+.1f}% vs absent)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
