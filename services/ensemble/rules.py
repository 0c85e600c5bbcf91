"""Business rules of the filtering stage, from a JSON file given at export.

    {"deny_items": [1000003, 1000588], "max_per_category": 3}

`deny_items`: catalogue item ids never recommended. `max_per_category`: at most this many items
of one category in a final list (0: no cap); relaxed only when the candidates cannot fill the
list otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rules:
    deny_items: frozenset[int] = field(default_factory=frozenset)
    max_per_category: int = 0

    @classmethod
    def from_file(cls, path: Path) -> Rules:
        try:
            document: Any = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"rules file {path}: {exc}") from exc
        if not isinstance(document, dict) or set(document) - {"deny_items", "max_per_category"}:
            raise ValueError(f"rules file {path}: expected keys deny_items, max_per_category")
        deny = document.get("deny_items", [])
        cap = document.get("max_per_category", 0)
        if not isinstance(deny, list) or not all(isinstance(i, int) for i in deny):
            raise ValueError(f"rules file {path}: deny_items must be a list of item ids")
        if not isinstance(cap, int) or cap < 0:
            raise ValueError(f"rules file {path}: max_per_category must be an integer >= 0")
        return cls(frozenset(deny), cap)
