"""The HTTP gateway: `python -m services.gateway` (settings from GATEWAY_* variables)."""

import sys

from pydantic import ValidationError

from services.gateway.core.config import Settings
from services.gateway.server import run

try:
    settings = Settings()
except ValidationError as exc:
    for error in exc.errors():
        where = "_".join(str(part) for part in error["loc"]).upper()
        setting = f"GATEWAY_{where}: " if where else ""
        print(f"error: {setting}{error['msg']}", file=sys.stderr)
    sys.exit(2)
run(settings)
