"""A simulated population clicking through the real gateway: users of a planted synthetic world
(training/data/synthetic.py, the world `python -m training build --rows R --seed S` learns from) ask
GET /recommend, and click each shown item with its true click probability (the generator's
`ClickTruth`), posting every click to POST /interactions with the answer's request_id.

    .venvs/merlin/bin/python -m loadtests.click_population --gateway URL --rows R --seed S \\
        [--requests 2000] [--workers 4]

It prints, per model version that answered: answers, impressions, clicks drawn and the clicks
the truth expects (the sum of the shown items' probabilities); then `make ab-report` reads what
the gateway attributed.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests

from training.data.truth import ClickTruth


@dataclass
class Tally:
    answers: int = 0
    impressions: int = 0
    clicks: int = 0
    expected_clicks: float = 0.0
    """The sum of the true click probabilities of the items shown."""


@dataclass
class Drive:
    by_version: dict[int | None, Tally] = field(default_factory=lambda: defaultdict(Tally))
    errors: list[str] = field(default_factory=list)
    attribution: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """The gateway's attribution status of each click posted."""


class Population:
    """Draws users and clicks; thread-safe through a generator per request."""

    def __init__(self, gateway: str, truth: ClickTruth, seed: int, api_key: str | None = None):
        self._gateway = gateway.rstrip("/")
        self._truth = truth
        self._seed = seed
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._local = threading.local()
        self._lock = threading.Lock()
        self.drive = Drive()

    def visit(self, index: int) -> None:
        """One user's request and clicks (the index seeds both, whatever the thread)."""
        rng = np.random.default_rng([self._seed, index])
        user = int(rng.choice(self._truth.user_ids))
        answer = self._get(user)
        if answer is None:
            return
        items = np.array([entry["item_id"] for entry in answer["items"]], dtype=np.int64)
        probabilities = self._truth.probability(np.full(len(items), user), items)
        clicked = items[rng.random(len(items)) < probabilities]
        statuses = [self._click(user, int(item), answer["request_id"]) for item in clicked]
        with self._lock:
            tally = self.drive.by_version[answer["model_version"]]
            tally.answers += 1
            tally.impressions += len(items)
            tally.clicks += len(clicked)
            tally.expected_clicks += float(probabilities.sum())
            for status in statuses:
                self.drive.attribution[status] += 1

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def _get(self, user: int) -> dict[str, Any] | None:
        response = self._session().get(
            f"{self._gateway}/recommend", params={"user_id": user}, timeout=30
        )
        if response.status_code != 200:
            self._error(f"GET /recommend user {user}: {response.status_code}")
            return None
        body: dict[str, Any] = response.json()
        return body

    def _click(self, user: int, item: int, request_id: str) -> str:
        body: dict[str, int | str] = {"user_id": user, "item_id": item, "request_id": request_id}
        response = self._session().post(
            f"{self._gateway}/interactions", json=body, headers=self._headers, timeout=30
        )
        if response.status_code != 201:
            self._error(f"POST /interactions: {response.status_code} {response.text[:100]}")
            return "failed"
        return str(response.json()["attribution"]["status"])

    def _error(self, message: str) -> None:
        with self._lock:
            self.drive.errors.append(message)


def drive(
    gateway: str,
    truth: ClickTruth,
    requests_count: int,
    workers: int = 4,
    seed: int = 0,
    api_key: str | None = None,
) -> Drive:
    population = Population(gateway, truth, seed, api_key)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(population.visit, range(requests_count)))
    return population.drive


def summary(result: Drive) -> str:
    lines = [
        f"{'version':<9}{'answers':>9}{'impressions':>13}{'clicks':>9}{'expected':>10}{'CTR':>8}"
    ]
    for version, tally in sorted(result.by_version.items(), key=lambda pair: str(pair[0])):
        ctr = tally.clicks / tally.impressions if tally.impressions else 0.0
        lines.append(
            f"{version!s:<9}{tally.answers:>9,}{tally.impressions:>13,}{tally.clicks:>9,}"
            f"{tally.expected_clicks:>10,.1f}{100 * ctr:>7.2f}%"
        )
    statuses = ", ".join(f"{name} {count:,}" for name, count in sorted(result.attribution.items()))
    lines.append(f"clicks posted: {statuses or 'none'}; errors: {len(result.errors)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from training.data.synthetic import planted

    parser = argparse.ArgumentParser(
        prog="python -m loadtests.click_population", description=__doc__
    )
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--rows", type=int, required=True, help="the build's --rows")
    parser.add_argument("--seed", type=int, required=True, help="the build's --seed")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--api-key", help="when the gateway has one (POST /interactions)")
    args = parser.parse_args(argv)
    truth = planted(args.rows, args.seed, 0.3).truth
    assert truth is not None
    result = drive(args.gateway, truth, args.requests, args.workers, args.seed, args.api_key)
    print(summary(result))
    for error in result.errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    return 0 if not result.errors else 1


if __name__ == "__main__":
    sys.exit(main())
