"""The HTTP gateway: `python -m services.gateway` (settings from GATEWAY_* variables)."""

import sys

from pydantic import ValidationError

from services.gateway.core.config import Settings, problems_of

try:
    settings = Settings()
except ValidationError as exc:
    for problem in problems_of(exc):
        print(f"error: {problem}", file=sys.stderr)
    sys.exit(2)

from services.gateway.server import run  # after the settings: a bad one fails fast

run(settings)
