"""loadtests/settings.py: the runner's settings from its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.errors import InputError
from loadtests.settings import MAX_SECONDS, RunSettings

REQUIRED = ["--build", "build", "--out", "out"]


def test_defaults_give_the_constant_load_of_make_bench() -> None:
    settings = RunSettings.from_args(REQUIRED)
    assert (settings.mode, settings.users, settings.duration, settings.seconds) == (
        "constant",
        16,
        60,
        60.0,
    )
    assert settings.host == "http://127.0.0.1:8080" and settings.triton is None
    profile = settings.profile
    assert profile.user_ids == Path("build/feature_repo/data/user_features.parquet")
    assert profile.record_file == Path("out/requests.parquet")
    assert (profile.unknown_share, profile.k, profile.think_ms, profile.seed) == (0.05, 10, 0, 0)
    assert profile.step_users == ()


def test_a_step_load_runs_each_step_for_its_seconds() -> None:
    settings = RunSettings.from_args(
        [*REQUIRED, "--step-load", "--steps", "1,3", "--step-seconds", "4", "--slo-ms", "20"]
    )
    assert (settings.mode, settings.steps, settings.seconds) == ("step", (1, 3), 8.0)
    assert settings.profile.step_seconds == 4 and settings.slo_ms == 20
    # --steps is only read for a step load
    assert RunSettings.from_args([*REQUIRED, "--steps", "x"]).steps == ()


def test_the_host_loses_its_trailing_slash_and_triton_gives_host_and_port() -> None:
    settings = RunSettings.from_args(
        [*REQUIRED, "--host", "http://localhost:9000/", "--triton-url", "[::1]:8001"]
    )
    assert settings.host == "http://localhost:9000"
    assert settings.triton == ("::1", 8001)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--users", "0"], "--users must be within 1..1024"),
        (["--spawn-rate", "0"], "--spawn-rate must be positive"),
        (["--duration", str(MAX_SECONDS + 1)], "--duration must be within"),
        (["--unknown-share", "1.5"], "--unknown-share must be within 0..1"),
        (["--k", "0"], "--k must be at least 1"),
        (["--think-ms", "-1"], "--think-ms must not be negative"),
        (["--slo-ms", "0"], "--slo-ms must be positive"),
        (["--step-load", "--steps", "2,x"], "--steps must be comma-separated integers"),
        (["--step-load", "--step-seconds", "0.5"], "--step-seconds must be within 1..600"),
        (["--step-load", "--step-seconds", "5", "--step-warmup", "5"], "--step-warmup"),
        (["--step-load", "--steps", "1,2,3,4,5,6,7", "--step-seconds", "600"], "longer than"),
        (["--host", "ftp://127.0.0.1"], "--host must be an http URL"),
        (["--host", "http://10.1.2.3:8080"], "--host must be on this machine"),
        (["--triton-url", "127.0.0.1"], "--triton-url must be host:port"),
        (["--triton-url", "192.168.0.9:8001"], "--triton-url must be on this machine"),
    ],
)
def test_bad_values_raise_one_message_naming_the_option(arguments: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RunSettings.from_args([*REQUIRED, *arguments])


def test_bad_arguments_end_with_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        RunSettings.from_args(["--out", "out", "--users", "many"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "(see --help)" in lines[0]
