"""The launchers' errors: each is reported as one ``error: ...`` line with its exit status."""

from __future__ import annotations

import sys
from collections.abc import Callable


class LaunchError(Exception):
    """A failure reported as one ``error: ...`` line; ``exit_code`` is the CLI's exit status."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(LaunchError):
    """Bad input, found before anything is started (exit 2)."""

    exit_code = 2


class StartError(LaunchError):
    """The server was started but did not become ready (exit 1)."""


def run_command(command: Callable[[], int], interrupted: str) -> int:
    """``command()``'s exit status; a LaunchError or ^C becomes one line on stderr, no traceback."""
    try:
        return command()
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
