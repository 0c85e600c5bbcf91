"""`python -m deploy.rollout deploy|rollback` (`make deploy BUILD_DIR=DIR`, `make rollback`).

A failing step or bad input is one line `error: ...` on stderr (exit 1, or 2 for bad input); ^C
exits 130. Progress, and what the libraries print (Feast's progress bars, warnings), go to stdout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable

from deploy.rollout.rollout import deploy, rollback
from deploy.rollout.settings import RolloutSettings
from deploy.triton.errors import run_command

COMMANDS: dict[str, Callable[[RolloutSettings], None]] = {"deploy": deploy, "rollback": rollback}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print("usage: python -m deploy.rollout deploy|rollback", file=sys.stderr)
        return 2

    def command() -> int:
        settings = RolloutSettings.from_env()
        # the export and the materialize read the online store from the environment too
        os.environ["REDIS_URL"] = settings.online_store
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("FEAST_USAGE", "False")
        warnings.simplefilter("ignore")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        with contextlib.redirect_stderr(sys.stdout):
            COMMANDS[args[0]](settings)
        return 0

    return run_command(command, interrupted="interrupted: check the served version with make run")
