"""``python -m tests.e2e.compose_check``: see the package's docstring."""

from __future__ import annotations

import sys

from tests.e2e.compose_check.runner import main

if __name__ == "__main__":
    sys.exit(main())
