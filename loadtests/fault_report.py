"""The table a reliability run prints (loadtests/reliability.py): one row a fault, its verdict
and limits, then the interactions and the run's verdict."""

from __future__ import annotations


def print_table(report: dict[str, object]) -> None:
    print(
        f"\n{'fault':<16}{'requests':>9}  {'statuses':<34}{'max ms':>9}{'outage s':>10}"
        f"{'slow':>6}{'lost':>6}{'unready s':>10}  result"
    )
    rows = report["faults"]
    assert isinstance(rows, list)
    for row in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in row["statuses"].items())
        outage = "never" if row["outage_s"] is None else f"{row['outage_s']:.2f}"
        unready = "-" if row["unready_after_s"] is None else f"{row['unready_after_s']:.2f}"
        print(
            f"{row['fault']:<16}{row['requests']:>9}  {statuses:<34}{row['max_latency_ms']:>9.0f}"
            f"{outage:>10}{row['slow']:>6}{_or_unknown(row['interactions_lost']):>6}{unready:>10}  "
            f"{row['verdict']:<5}{_limits_text(row)}".rstrip()
        )
    print(
        f"interactions acknowledged {report['interactions_acknowledged']}, "
        f"lost {_or_unknown(report['interactions_lost'])}"
    )
    failed = sum(1 for row in rows if row["breaches"])
    verdict = "pass" if not failed else f"FAIL ({failed} of {len(rows)} faults past a limit)"
    print(f"reliability: {verdict}")


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _limits_text(row: dict[str, object]) -> str:
    """The breaches of a failed row; the limits a passed row kept to."""
    breaches, limits = row["breaches"], row["limits"]
    assert isinstance(breaches, list) and isinstance(limits, dict)
    names = {"outage_s": "outage <= {:g} s", "slow": "slow <= {:g}", "lost": "lost <= {:g}"}
    kept = ", ".join(names[measure].format(value) for measure, value in limits.items())
    return "; ".join(breaches) if breaches else kept
