"""The step load's schedule: which user count runs when (the locustfile's `StepLoad` follows it)."""

from __future__ import annotations

from loadtests.errors import InputError

MAX_USERS = 1024
MAX_STEPS = 20


def parse_steps(text: str, flag: str) -> tuple[int, ...]:
    """Comma-separated user counts, one per step; `flag` names the option in the error."""
    try:
        steps = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"{flag} must be comma-separated integers: {text!r}") from None
    if not steps or len(steps) > MAX_STEPS:
        raise InputError(f"{flag} needs 1 to {MAX_STEPS} user counts: {text!r}")
    if any(not 1 <= users <= MAX_USERS for users in steps):
        raise InputError(f"{flag} user counts must be within 1..{MAX_USERS}: {text!r}")
    return steps


def shape_tick(
    run_time: float,
    steps: tuple[int, ...],
    step_seconds: float,
    users: int | None,
    spawn_rate: float | None,
    run_time_limit: float | None,
) -> tuple[int, float] | None:
    """(users, spawn rate) at `run_time`, or None once the load is over.

    With steps, each user count runs for `step_seconds`; without, Locust's constant load of
    `users` (-u) at `spawn_rate` (-r) until `run_time_limit` (-t, none: until stopped).
    """
    if steps:
        index = int(run_time // step_seconds)
        if index >= len(steps):
            return None
        return steps[index], float(spawn_rate or steps[index])
    if run_time_limit and run_time >= run_time_limit:
        return None
    return int(users or 1), float(spawn_rate or 1)
