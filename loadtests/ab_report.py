"""Which A/B arm do users click more? Per arm (the version GATEWAY_AB assigns its users), from the
running gateway's GET /stats (the counters every gateway keeps in Redis): requests, recorded
answers, impressions, attributed clicks and CTR@k with its 95% Wilson interval; between the
best arm and each other one, the difference with its 95% interval and the two-proportion
z-test; the better arm is named when it beats every other arm significantly (Bonferroni: alpha
divided by the number of comparisons).

    .venvs/merlin/bin/python -m loadtests.ab_report [--gateway URL] [--k K] [--alpha 0.05]

Exit status 0 with a report (whether or not it names an arm), 1 when the gateway or its
counters cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import requests

from services.gateway.core.proportions import Comparison, Rate, compare, wilson


@dataclass(frozen=True)
class Arm:
    name: str
    versions: tuple[str, ...]
    """The model versions that answered its users (one, unless a version was missing)."""
    requests: int
    recorded: int
    impressions: int
    clicks: int

    @property
    def rate(self) -> Rate | None:
        return wilson(min(self.clicks, self.impressions), self.impressions)


@dataclass(frozen=True)
class Decision:
    alpha: float
    comparisons: tuple[tuple[Arm, Arm, Comparison | None], ...]
    """(best arm, another arm, the test of best against it)."""
    better: Arm | None
    """The best arm, when every comparison is significant at alpha / comparisons."""


def arms_of(attribution: dict[str, Any]) -> list[Arm]:
    """/stats' rows (one per arm and version) summed per arm, in the rows' order."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in attribution["arms"]:
        rows.setdefault(str(row["arm"]), []).append(row)
    return [
        Arm(
            name=name,
            versions=tuple(str(row["model_version"]) for row in group),
            requests=sum(int(row["requests"]) for row in group),
            recorded=sum(int(row["recorded"]) for row in group),
            impressions=sum(int(row["impressions"]) for row in group),
            clicks=sum(int(row["clicks"]) for row in group),
        )
        for name, group in rows.items()
    ]


def decide(arms: list[Arm], alpha: float) -> Decision:
    rated = [arm for arm in arms if arm.rate is not None]
    if len(rated) < 2:
        return Decision(alpha, (), None)
    best = max(rated, key=lambda arm: _rate(arm).value)
    others = [arm for arm in rated if arm is not best]
    comparisons = tuple((best, other, compare(_rate(best), _rate(other))) for other in others)
    threshold = alpha / len(comparisons)
    wins = all(
        test is not None and test.difference > 0 and test.p_value < threshold
        for _, _, test in comparisons
    )
    return Decision(alpha, comparisons, best if wins else None)


def _rate(arm: Arm) -> Rate:
    rate = arm.rate
    assert rate is not None
    return rate


def report(arms: list[Arm], decision: Decision, k: int, unattributed: dict[str, int]) -> str:
    lines = [_table(arms, k), ""]
    for best, other, test in decision.comparisons:
        lines.append(_comparison(best, other, test, decision))
    lines.append(_verdict(decision, k))
    if unattributed:
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in sorted(unattributed.items()))
        lines.append(f"unattributed clicks: {sum(unattributed.values()):,} ({reasons})")
    return "\n".join(lines)


def _table(arms: list[Arm], k: int) -> str:
    header = (
        f"{'arm':<6}{'versions':<10}{'requests':>10}{'recorded':>10}{'impressions':>13}"
        f"{'clicks':>9}{f'CTR@{k}':>9}  95% interval"
    )
    rows = [header]
    for arm in arms:
        rate = arm.rate
        ctr = "–" if rate is None else f"{100 * rate.value:.2f}%"
        interval = "–" if rate is None else f"[{100 * rate.low:.2f}%, {100 * rate.high:.2f}%]"
        rows.append(
            f"{arm.name:<6}{','.join(arm.versions):<10}{arm.requests:>10,}{arm.recorded:>10,}"
            f"{arm.impressions:>13,}{arm.clicks:>9,}{ctr:>9}  {interval}"
        )
    return "\n".join(rows)


def _comparison(best: Arm, other: Arm, test: Comparison | None, decision: Decision) -> str:
    name = f"arm {best.name} - arm {other.name}"
    if test is None:
        return f"{name}: no test (no clicks, or every item clicked, in both)"
    threshold = decision.alpha / len(decision.comparisons)
    verdict = "significant" if test.p_value < threshold else "not significant"
    return (
        f"{name}: {100 * test.difference:+.2f} points [{100 * test.low:+.2f}, "
        f"{100 * test.high:+.2f}], z = {test.z:.2f}, {_p(test.p_value)}: {verdict} at "
        f"{threshold:g}"
    )


def _p(value: float) -> str:
    return "p < 1e-300" if value < 1e-300 else f"p = {value:.2g}"  # erfc underflows near 1e-308


def _verdict(decision: Decision, k: int) -> str:
    if not decision.comparisons:
        return "no decision: fewer than two arms with impressions"
    if decision.better is None:
        return "no better arm: the difference is not significant (keep collecting clicks)"
    best = decision.better
    others = ", ".join(
        f"{_percent(other)} (arm {other.name})" for _, other, _ in decision.comparisons
    )
    versions = ",".join(best.versions)
    return f"better arm: {best.name} (version {versions}), CTR@{k} {_percent(best)} vs {others}"


def _percent(arm: Arm) -> str:
    return f"{100 * _rate(arm).value:.2f}%"


def fetch(gateway: str, k: int | None) -> dict[str, Any]:
    """/stats' attribution section; SystemExit with one line when it cannot be had."""
    try:
        response = requests.get(
            f"{gateway.rstrip('/')}/stats", params={} if k is None else {"k": k}, timeout=10
        )
    except requests.RequestException as exc:
        raise SystemExit(f"error: {gateway} unreachable: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise SystemExit(
            f"error: GET /stats answered {response.status_code}: {response.text[:200]}"
        )
    attribution: dict[str, Any] | None = response.json().get("attribution")
    if attribution is None:
        raise SystemExit("error: the gateway could not read its counters (Redis unavailable)")
    return attribution


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.ab_report", description=__doc__)
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--k", type=int, help="CTR@k: positions below k (default: all shown)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level")
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        parser.error("--alpha must be between 0 and 1")
    attribution = fetch(args.gateway, args.k)
    arms = arms_of(attribution)
    decision = decide(arms, args.alpha)
    print(report(arms, decision, int(attribution["k"]), attribution["unattributed_clicks"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
