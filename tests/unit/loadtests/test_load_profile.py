"""loadtests/load_profile.py: the Locust process's settings, from its options and LOADTEST_*."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from loadtests.errors import InputError
from loadtests.load_profile import LoadProfile, add_locust_options
from tests.conftest import REPO_ROOT

LOADTEST_PYTHON = REPO_ROOT / ".venvs" / "loadtest" / "bin" / "python"
ENV_VARS = {
    "--user-ids": "LOADTEST_USER_IDS",
    "--unknown-share": "LOADTEST_UNKNOWN_SHARE",
    "--k": "LOADTEST_K",
    "--think-ms": "LOADTEST_THINK_MS",
    "--mix-seed": "LOADTEST_SEED",
    "--step-users": "LOADTEST_STEP_USERS",
    "--step-seconds": "LOADTEST_STEP_SECONDS",
    "--record-file": "LOADTEST_RECORD_FILE",
}


class RecordingParser:
    """Locust's parser as add_locust_options sees it: records each option's declaration."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}

    def add_argument_group(self, title: str) -> RecordingParser:
        return self

    def add_argument(self, flag: str, **settings: Any) -> None:
        self.options[flag] = settings


def plain_parser() -> argparse.ArgumentParser:
    """The same options on a plain argparse parser (which has no env_var)."""
    recording = RecordingParser()
    add_locust_options(recording)
    parser = argparse.ArgumentParser()
    for flag, settings in recording.options.items():
        parser.add_argument(flag, **{k: v for k, v in settings.items() if k != "env_var"})
    return parser


def test_every_option_keeps_its_loadtest_variable() -> None:
    recording = RecordingParser()
    add_locust_options(recording)
    assert {flag: s["env_var"] for flag, s in recording.options.items()} == ENV_VARS


def test_the_runner_s_arguments_give_locust_the_same_profile() -> None:
    profile = LoadProfile(
        user_ids=Path("ids.txt"),
        unknown_share=0.2,
        k=7,
        think_ms=1.5,
        seed=3,
        step_users=(1, 3),
        step_seconds=4.0,
        record_file=Path("out/requests.parquet"),
    )
    options = plain_parser().parse_args(profile.locust_arguments())
    assert LoadProfile.from_options(options) == profile


def test_defaults_are_a_constant_load_without_a_record() -> None:
    options = plain_parser().parse_args(["--user-ids", "ids.txt"])
    assert LoadProfile.from_options(options) == LoadProfile(user_ids=Path("ids.txt"))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "--user-ids \\(or LOADTEST_USER_IDS\\) is required"),
        (["--user-ids", "x", "--unknown-share", "-0.1"], "--unknown-share must be within 0..1"),
        (["--user-ids", "x", "--k", "0"], "--k must be at least 1"),
        (["--user-ids", "x", "--think-ms", "-5"], "--think-ms must not be negative"),
        (["--user-ids", "x", "--step-users", "2,y"], "--step-users must be comma-separated"),
        (["--user-ids", "x", "--step-users", "2", "--step-seconds", "0"], "--step-seconds"),
    ],
)
def test_bad_options_raise_one_message(arguments: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        LoadProfile.from_options(plain_parser().parse_args(arguments))


PROFILE_FROM_LOCUST_PARSER = """
import json, sys
import configargparse  # Locust's own parser library
from loadtests.load_profile import LoadProfile, add_locust_options
parser = configargparse.ArgumentParser()
add_locust_options(parser)
profile = LoadProfile.from_options(parser.parse_args(sys.argv[1:]))
print(json.dumps({**profile.__dict__, "user_ids": str(profile.user_ids),
                  "record_file": str(profile.record_file)}))
"""


def test_loadtest_variables_set_the_profile_and_the_command_line_wins() -> None:
    if not LOADTEST_PYTHON.exists():
        pytest.fail(f"{LOADTEST_PYTHON} missing: run `make setup`")
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOADTEST_")}
    env.update(
        LOADTEST_USER_IDS="ids.txt",
        LOADTEST_UNKNOWN_SHARE="0.5",
        LOADTEST_K="3",
        LOADTEST_THINK_MS="2",
        LOADTEST_SEED="9",
        LOADTEST_STEP_USERS="2,4",
        LOADTEST_STEP_SECONDS="5",
        LOADTEST_RECORD_FILE="r.parquet",
    )
    result = subprocess.run(
        [str(LOADTEST_PYTHON), "-c", PROFILE_FROM_LOCUST_PARSER, "--k", "4"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "user_ids": "ids.txt",
        "unknown_share": 0.5,
        "k": 4,
        "think_ms": 2.0,
        "seed": 9,
        "step_users": [2, 4],
        "step_seconds": 5.0,
        "record_file": "r.parquet",
    }
