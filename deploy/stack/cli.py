"""`python -m deploy.stack run|stop|triton`: bad input or a failing step is one line
`error: ...` with exit 1 or 2; ^C exits 130."""

from __future__ import annotations

import sys
from collections.abc import Callable

from deploy.stack.orchestrate import run, serve_triton, stop
from deploy.stack.settings import StackSettings
from deploy.triton.errors import run_command

COMMANDS: dict[str, Callable[[StackSettings], None]] = {
    "run": run,
    "stop": stop,
    "triton": serve_triton,
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print("usage: python -m deploy.stack run|stop|triton", file=sys.stderr)
        return 2

    def command() -> int:
        COMMANDS[args[0]](StackSettings.from_env())
        return 0

    return run_command(command, interrupted="interrupted (make stop stops what was started)")
