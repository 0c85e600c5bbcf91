"""loadtests/reliability.py: what a fault's window measures, the limits it is held to, the exit
status, and the CLI's bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests import reliability
from loadtests.closed_loop import Sample
from loadtests.faults import FAULTS, INJECT, Injection
from loadtests.reliability import (
    DEFAULT_LIMITS,
    FaultResult,
    Limits,
    Measure,
    Phase,
    judge,
    outage_s,
    parse_args,
    print_table,
    readiness_turns,
    slow_requests,
    summarize,
    wait_s_of,
)


def answers(*timed: tuple[float, int], latency_s: float = 0.01) -> list[Sample]:
    """Requests sent at the given times, answered latency_s later with the given status."""
    return [Sample(sent + latency_s, "recommend", status, latency_s) for sent, status in timed]


def test_the_outage_runs_from_the_injection_to_the_first_2xx_of_a_stable_span() -> None:
    samples = answers((10.0, 0), (10.5, 503), (11.0, 200), (11.5, 200), (12.5, 200), (14.0, 200))
    assert outage_s(samples, injected=9.8, until=20.0, stable_s=2.0) == 1.21


def test_a_2xx_between_failures_does_not_end_the_outage() -> None:
    samples = answers((10.0, 503), (10.2, 200), (10.4, 503), (10.6, 200), (11.0, 200), (13.0, 201))
    assert outage_s(samples, injected=10.0, until=20.0, stable_s=1.0) == 0.61


def test_requests_that_failed_before_a_2xx_was_sent_do_not_count_against_it() -> None:
    """A request sent before the first good one but answered (failed) after it, e.g. one that
    waited out its timeout, does not spoil the good one's span."""
    samples = [Sample(11.0, "recommend", 503, 1.0), *answers((10.5, 200), (11.5, 200))]
    samples.sort(key=lambda s: s.sent)
    assert outage_s(samples, injected=10.0, until=20.0, stable_s=1.0) == 0.51


def test_nothing_failed_is_the_first_answer_s_wait() -> None:
    samples = answers((10.0, 200), (11.0, 201), (13.0, 200))
    assert outage_s(samples, injected=10.0, until=20.0, stable_s=2.0) == 0.01


def test_no_stable_span_before_the_end_is_no_recovery() -> None:
    samples = answers((10.0, 200), (11.0, 503), (12.0, 200))
    assert outage_s(samples, injected=10.0, until=12.5, stable_s=2.0) is None
    assert outage_s([], injected=10.0, until=12.5, stable_s=2.0) is None


def test_slow_requests_are_past_the_gateway_timeout_or_unanswered() -> None:
    samples = [*answers((1.0, 200), (2.0, 503)), *answers((3.0, 503), latency_s=1.02)]
    samples.append(Sample(9.0, "interaction", 0, 5.0))
    assert slow_requests(samples, gateway_timeout_s=1.0) == 2


def test_summarize_takes_the_requests_sent_from_the_injection_on() -> None:
    samples = answers((5.0, 200), (10.0, 503), (10.5, 200), (11.0, 200), (20.0, 503))
    polls = answers((9.9, 503), (10.2, 200), (10.3, 503), (10.9, 200))
    phase = Phase("instance-kill", 3.0, Injection(10.0, "killed"), False, 12.0, 13.0)
    result = summarize(samples, phase, Measure(stable_s=1.0, gateway_timeout_s=1.0), polls)
    assert (result.requests, result.statuses) == (3, {"200": 2, "503": 1})
    assert (result.outage_s, result.fault_s, result.note) == (0.51, 2.0, "killed")
    assert (result.unready_after_s, result.ready_again_s) == (0.31, 0.91)


def test_readiness_turns_are_the_first_non_200_and_the_first_200_after_it() -> None:
    assert readiness_turns(answers((1.0, 200), (1.5, 0), (2.0, 503), (3.0, 200)), 0.5) == (
        1.01,
        2.51,
    )
    assert readiness_turns(answers((1.0, 200), (1.5, 503)), 0.5) == (1.01, None)
    assert readiness_turns(answers((1.0, 200)), 0.5) == (None, None)


def judged(fault: str, limits: Limits = DEFAULT_LIMITS, **figures: object) -> FaultResult:
    return judge(FaultResult(fault=fault, **figures), limits)  # type: ignore[arg-type]


def test_the_defaults_are_the_issue_s_must_show() -> None:
    assert DEFAULT_LIMITS.of("instance-kill") == {"outage_s": 2.0, "slow": 0}
    assert DEFAULT_LIMITS.of("triton-kill") == {"outage_s": 30.0}
    assert DEFAULT_LIMITS.of("redis-kill") == {"outage_s": 5.0, "lost": 0}
    assert DEFAULT_LIMITS.of("redis-pause") == {}


@pytest.mark.parametrize(
    ("fault", "figures", "breaches"),
    [
        ("instance-kill", {"outage_s": 2.0}, []),
        ("instance-kill", {"outage_s": 13.2, "slow": 52}, ["outage 13.20 s > 2 s", "slow 52 > 0"]),
        ("triton-kill", {"outage_s": 29.9}, []),
        ("triton-kill", {"outage_s": 31.0}, ["outage 31.00 s > 30 s"]),
        ("triton-kill", {"outage_s": None}, ["no recovery in the window"]),
        ("redis-kill", {"outage_s": 4.0, "interactions_lost": 1}, ["lost 1 > 0"]),
        ("redis-kill", {"outage_s": 4.0, "interactions_lost": None}, ["lost not known"]),
        ("redis-pause", {"outage_s": 60.0, "slow": 900, "interactions_lost": 3}, []),
        ("redis-pause", {"outage_s": 0.1, "injection_failed": True}, ["injection failed"]),
    ],
)
def test_a_fault_fails_on_each_limit_it_passes(
    fault: str, figures: dict[str, object], breaches: list[str]
) -> None:
    result = judged(fault, **figures)
    assert result.breaches == breaches
    expected = "FAIL" if breaches else ("pass" if DEFAULT_LIMITS.of(fault) else "-")
    assert result.verdict == expected


def test_limits_are_set_per_fault_on_the_command_line() -> None:
    args = parse_args(
        "--max-outage-s instance-kill=15 --max-outage-s redis-pause=6.5 "
        "--max-slow instance-kill=100 --max-lost redis-restart=0".split()
    )
    assert args.limits.of("instance-kill") == {"outage_s": 15.0, "slow": 100}
    assert args.limits.of("redis-pause") == {"outage_s": 6.5}
    assert args.limits.of("redis-restart") == {"lost": 0}
    assert args.limits.of("triton-kill") == {"outage_s": 30.0}  # the others keep their defaults
    assert judged("instance-kill", args.limits, outage_s=13.2, slow=52).breaches == []
    assert judged("redis-pause", args.limits, outage_s=7.0).verdict == "FAIL"


def test_a_killed_server_gets_its_outage_limit_and_a_little_to_come_back_by_itself() -> None:
    args = parse_args(["--max-outage-s", "redis-kill=8", "--fault-s", "3"])
    assert wait_s_of("redis-kill", args) == 10.0
    assert wait_s_of("triton-kill", args) == 32.0
    assert wait_s_of("redis-pause", args) == 3.0


def report_of(*rows: FaultResult) -> dict[str, object]:
    return {
        "faults": [{**vars(row), "verdict": row.verdict} for row in rows],
        "interactions_acknowledged": 3,
        "interactions_lost": 0,
        "passed": not any(row.breaches for row in rows),
        "duration_s": 1.0,
    }


def test_the_table_has_a_row_per_fault_with_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        judged("instance-kill", requests=10, statuses={"0": 1}, outage_s=13.2, slow=1),
        judged("redis-kill", requests=5, statuses={"201": 5}, max_latency_ms=12.0, outage_s=0.4),
        judged("redis-pause", requests=4, statuses={"200": 4}, outage_s=None),
    ]
    rows[0].unready_after_s = 0.62
    print_table(report_of(*rows))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[-4:] == ["lost", "unready", "s", "result"]
    assert [" ".join(line.split()) for line in lines[2:5]] == [
        "instance-kill 10 0:1 0 13.20 1 0 0.62 FAIL outage 13.20 s > 2 s; slow 1 > 0",
        "redis-kill 5 201:5 12 0.40 0 0 - pass outage <= 5 s, lost <= 0",
        "redis-pause 4 200:4 0 never 0 0 - -",
    ]
    assert lines[-2] == "interactions acknowledged 3, lost 0"
    assert lines[-1] == "reliability: FAIL (1 of 3 faults past a limit)"


@pytest.mark.parametrize(("breach", "status"), [(False, 0), (True, 1)])
def test_the_exit_status_is_1_on_a_breach(
    breach: bool, status: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outage = 3.0 if breach else 1.0
    row = judged("instance-kill", requests=1, statuses={"200": 1}, outage_s=outage)
    monkeypatch.setattr(reliability, "run", lambda args: report_of(row))
    out = tmp_path / "report.json"
    assert reliability.main(["--faults", "instance-kill", "--out", str(out)]) == status
    assert out.exists()


def test_every_fault_has_an_injection_in_order() -> None:
    assert FAULTS == (
        "redis-pause",
        "redis-restart",
        "redis-kill",
        "instance-kill",
        "triton-restart",
        "triton-kill",
    )
    assert set(INJECT) == set(FAULTS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "redis-pause,bogus"], "unknown fault 'bogus'"),
        (["--gateway", "http://10.0.0.1:8080"], "must be a loopback address"),
        (["--gateway", "127.0.0.1:8080"], "must be a loopback address"),
        (["--max-outage-s", "bogus=3"], "--max-outage-s bogus=3: unknown fault 'bogus'"),
        (["--max-outage-s", "instance-kill"], "want FAULT=N with N a float >= 0"),
        (["--max-slow", "instance-kill=-1"], "want FAULT=N with N a int >= 0"),
        (["--max-lost", "redis-kill=0.5"], "want FAULT=N with N a int >= 0"),
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
    assert (args.baseline_s, args.window_s, args.stable_s) == (3.0, 20.0, 2.0)


def test_short_runs_the_faults_with_limits_in_short_phases() -> None:
    args = parse_args(["--short"])
    assert args.faults == ["instance-kill", "redis-kill", "triton-kill"]
    assert all(DEFAULT_LIMITS.of(fault) for fault in args.faults)
    assert (args.baseline_s, args.window_s, args.stable_s) == (1.0, 5.0, 1.0)
    assert parse_args(["--short", "--window-s", "9"]).window_s == 9.0  # a flag still wins
