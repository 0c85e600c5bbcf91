"""loadtests/step_schedule.py: the step list and which user count runs when."""

from __future__ import annotations

import pytest

from loadtests.errors import InputError
from loadtests.step_schedule import MAX_STEPS, parse_steps, shape_tick


def test_steps_are_parsed_from_a_comma_separated_list() -> None:
    assert parse_steps("2, 4,8,", "--steps") == (2, 4, 8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2,x", "--steps must be comma-separated integers"),
        ("", "--steps needs 1 to"),
        (",".join(["1"] * (MAX_STEPS + 1)), "--steps needs 1 to"),
        ("0,2", "--steps user counts must be within 1..1024"),
        ("2,2000", "--steps user counts must be within 1..1024"),
    ],
)
def test_bad_steps_name_the_option(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_steps(text, "--steps")


def test_each_step_runs_for_its_seconds_then_the_load_ends() -> None:
    steps = (2, 4, 8)
    assert shape_tick(0.0, steps, 10, None, 3.0, None) == (2, 3.0)
    assert shape_tick(9.99, steps, 10, None, 3.0, None) == (2, 3.0)
    assert shape_tick(10.0, steps, 10, None, 3.0, None) == (4, 3.0)
    assert shape_tick(29.9, steps, 10, None, 3.0, None) == (8, 3.0)
    assert shape_tick(30.0, steps, 10, None, 3.0, None) is None
    # without a spawn rate, each step's users start at once
    assert shape_tick(15.0, steps, 10, None, None, None) == (4, 4.0)


def test_without_steps_the_constant_load_runs_until_its_run_time() -> None:
    assert shape_tick(0.0, (), 15, 16, 8.0, 60) == (16, 8.0)
    assert shape_tick(59.9, (), 15, 16, 8.0, 60) == (16, 8.0)
    assert shape_tick(60.0, (), 15, 16, 8.0, 60) is None
    assert shape_tick(1e6, (), 15, 16, 8.0, None) == (16, 8.0)  # no -t: until stopped
    assert shape_tick(0.0, (), 15, None, None, None) == (1, 1.0)
