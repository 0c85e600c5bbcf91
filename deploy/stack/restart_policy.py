"""When a supervisor restarts a server that exited, and when it gives up: only a crash is
restarted (not an exit with code 0); bounded restarts with a doubling back-off, the count
starting afresh once a server stayed up long enough."""

from __future__ import annotations

import signal
from dataclasses import dataclass

from deploy.stack.settings import StackSettings


@dataclass
class RestartPolicy:
    tries: int = 5
    """Restarts in a row before giving up."""
    first_delay_s: float = 1.0
    max_delay_s: float = 16.0
    reset_after_s: float = 60.0
    """A server up at least this long before it exited starts a fresh row."""
    used: int = 0
    """Restarts made in the current row."""

    @classmethod
    def from_settings(cls, settings: StackSettings) -> RestartPolicy:
        return cls(
            tries=settings.restart_tries,
            first_delay_s=settings.restart_first_delay_s,
            max_delay_s=settings.restart_max_delay_s,
            reset_after_s=settings.restart_reset_after_s,
        )

    def next_delay(self, uptime_s: float) -> float | None:
        """The wait before restarting a server that exited after ``uptime_s`` seconds up (0
        for one that never got ready); None when the row's restarts are used up."""
        if uptime_s >= self.reset_after_s:
            self.used = 0
        if self.used >= self.tries:
            return None
        delay = min(self.first_delay_s * float(2**self.used), self.max_delay_s)
        self.used += 1
        return delay


def is_crash(returncode: int | None) -> bool:
    """Whether an exit calls for a restart: all but code 0, which a server exits with when it
    was stopped on purpose (SIGTERM, Redis SHUTDOWN); an unknown status counts as a crash."""
    return returncode != 0


def exit_cause(returncode: int | None) -> str:
    """How a process ended, from its exit status (``subprocess`` style: -N for signal N; None
    when it was not our child, whose status nobody tells us)."""
    if returncode is None:
        return "is gone (exit status unknown: it was not started by this supervisor)"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"
