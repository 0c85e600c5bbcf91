"""The supervisor's restart policy: bounded restarts, doubling back-off, a fresh row after a
minute up; only a crash is restarted; the cause of an exit in words."""

from __future__ import annotations

import pytest

from deploy.stack.restart_policy import RestartPolicy, exit_cause, is_crash
from deploy.stack.settings import StackError, StackSettings
from tests.unit.deploy.env_errors import bad_variable_error


def delays(policy: RestartPolicy, uptimes: list[float]) -> list[float | None]:
    return [policy.next_delay(uptime) for uptime in uptimes]


def test_five_restarts_doubling_from_1_to_16_s_then_it_gives_up() -> None:
    policy = RestartPolicy()
    assert delays(policy, [0.5] * 6) == [1, 2, 4, 8, 16, None]
    assert policy.next_delay(0.0) is None  # stays given up while nothing stays up


def test_the_delay_is_capped() -> None:
    policy = RestartPolicy(tries=7, first_delay_s=1.0, max_delay_s=16.0)
    assert delays(policy, [0.0] * 8) == [1, 2, 4, 8, 16, 16, 16, None]


def test_a_minute_up_starts_a_fresh_row() -> None:
    policy = RestartPolicy()
    assert delays(policy, [1.0, 1.0, 1.0]) == [1, 2, 4]
    assert policy.next_delay(59.0) == 8  # not long enough: the row goes on
    assert policy.next_delay(60.0) == 1  # up a minute: counted afresh
    assert policy.used == 1


def test_restarts_of_a_server_that_never_got_ready_count_in_the_row() -> None:
    policy = RestartPolicy(tries=2)
    assert delays(policy, [120.0, 0.0, 0.0]) == [1, 2, None]


def test_the_policy_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_STACK_RESTART_TRIES", "3")
    monkeypatch.setenv("RECSYS_STACK_RESTART_FIRST_DELAY_S", "0.5")
    monkeypatch.setenv("RECSYS_STACK_RESTART_MAX_DELAY_S", "1")
    monkeypatch.setenv("RECSYS_STACK_RESTART_RESET_AFTER_S", "30")
    policy = RestartPolicy.from_settings(StackSettings.from_env())
    assert (policy.tries, policy.reset_after_s) == (3, 30.0)
    assert delays(policy, [0.0] * 4) == [0.5, 1.0, 1.0, None]


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("RECSYS_STACK_RESTART_TRIES", "0", "greater than 0"),
        ("RECSYS_STACK_RESTART_FIRST_DELAY_S", "soon", "not a valid float"),
        ("RECSYS_STACK_REDIS_APPENDFSYNC", "never", "unexpected value"),
    ],
)
def test_a_bad_policy_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    assert words in bad_variable_error(monkeypatch, StackSettings, StackError, name, value)


def test_only_a_crash_is_restarted() -> None:
    assert not is_crash(0)  # SIGTERM, Redis SHUTDOWN: stopped on purpose
    assert is_crash(1) and is_crash(-9) and is_crash(-11)
    assert is_crash(None)  # a server we did not start, status unknown


def test_the_cause_names_the_signal_or_the_code() -> None:
    assert exit_cause(-9) == "was killed by SIGKILL"
    assert exit_cause(-6) == "was killed by SIGABRT"
    assert exit_cause(3) == "exited with code 3"
    assert "exit status unknown" in exit_cause(None)
