"""The HTTP gateway: `python -m services.gateway` (settings from GATEWAY_* variables).

Before serving, k's maximum is taken from the served model (core/answer_size.py): a
GATEWAY_MAX_K that differs from it is one `error: ...` line and exit 2, as is a bad setting.
"""

import asyncio
import sys

from pydantic import ValidationError

from services.gateway.core.config import Settings, problems_of


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        for problem in problems_of(exc):
            print(f"error: {problem}", file=sys.stderr)
        return 2

    # after the settings: a bad one fails fast
    from services.gateway.core.answer_size import AnswerSizeMismatch, with_served_answer_size

    try:
        settings = asyncio.run(with_served_answer_size(settings))
    except AnswerSizeMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from services.gateway.server import run

    run(settings)
    return 0


sys.exit(main())
