"""loadtests/reliability.py: what a fault's window measures, and the CLI's bad input."""

from __future__ import annotations

import pytest

from loadtests.closed_loop import Sample
from loadtests.faults import FAULTS, INJECT
from loadtests.reliability import parse_args, print_table, time_to_recover


def answers(*timed: tuple[float, int]) -> list[Sample]:
    return [Sample(at, "recommend", status, 0.01) for at, status in timed]


def test_recovery_starts_after_the_last_failure_before_a_stable_window() -> None:
    samples = answers((10.0, 0), (10.5, 502), (11.0, 200), (11.5, 200), (12.5, 200), (14.0, 200))
    assert time_to_recover(samples, healed=10.0, until=20.0, stable_s=2.0) == 0.5


def test_no_failure_after_healing_is_an_immediate_recovery() -> None:
    samples = answers((9.0, 0), (10.2, 200), (11.0, 201), (13.0, 200))
    assert time_to_recover(samples, healed=10.0, until=20.0, stable_s=2.0) == 0.0


def test_no_stable_window_before_the_end_is_no_recovery() -> None:
    samples = answers((10.0, 200), (11.0, 503), (12.0, 200))
    assert time_to_recover(samples, healed=10.0, until=12.5, stable_s=2.0) is None


def test_every_fault_has_an_injection_in_order() -> None:
    assert FAULTS == (
        "redis-pause",
        "redis-restart",
        "redis-kill",
        "instance-kill",
        "triton-restart",
    )
    assert set(INJECT) == set(FAULTS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "redis-pause,bogus"], "unknown fault 'bogus'"),
        (["--gateway", "http://10.0.0.1:8080"], "must be a loopback address"),
        (["--gateway", "127.0.0.1:8080"], "must be a loopback address"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_defaults_run_every_fault_against_the_local_gateway() -> None:
    args = parse_args([])
    assert args.faults == list(FAULTS)
    assert args.gateway == "http://127.0.0.1:8080"


def test_the_table_has_a_row_per_fault(capsys: pytest.CaptureFixture[str]) -> None:
    row = {
        "fault": "redis-pause",
        "requests": 10,
        "statuses": {"0": 1, "200": 9},
        "max_latency_ms": 12.0,
        "recover_s": None,
        "interactions_lost": 0,
    }
    print_table({"faults": [row], "interactions_acknowledged": 3, "interactions_lost": 0})
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["redis-pause", "10", "0:1", "200:9", "12", "-", "0"]
    assert lines[-1] == "interactions acknowledged 3, lost 0"
