"""Business rules of the filtering stage, from a JSON document.

    {"deny_items": [1000003, 1000588], "max_per_category": 3}

`deny_items`: catalogue item ids never recommended. `max_per_category`: at most this many items
of one category in a final list (0: no cap); relaxed only when the candidates cannot fill the
list otherwise.

The export bakes a file's rules into the model (`--rules FILE`); rules written to Redis
(`python -m training rules set FILE`, live_rules.py) replace them from the next pass on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

KEYS = ("deny_items", "max_per_category")


@dataclass(frozen=True)
class Rules:
    deny_items: frozenset[int] = field(default_factory=frozenset)
    max_per_category: int = 0

    @classmethod
    def from_file(cls, path: Path) -> Rules:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"rules file {path}: {exc}") from exc
        return cls.from_json(text, f"rules file {path}")

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "rules") -> Rules:
        """The rules of a JSON document; ValueError (one line, prefixed by `source`) unless it is
        an object with at most the keys deny_items (a list of int32 ids) and max_per_category
        (an integer >= 0)."""
        try:
            document: Any = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{source}: not JSON ({exc})") from exc
        if not isinstance(document, dict) or set(document) - set(KEYS):
            raise ValueError(f"{source}: expected an object with keys deny_items, max_per_category")
        deny = document.get("deny_items", [])
        cap = document.get("max_per_category", 0)
        if not isinstance(deny, list) or not all(_is_item_id(i) for i in deny):
            raise ValueError(f"{source}: deny_items must be a list of item ids (int32, >= 0)")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
            raise ValueError(f"{source}: max_per_category must be an integer >= 0")
        return cls(frozenset(deny), cap)

    def to_json(self) -> str:
        return json.dumps(
            {"deny_items": sorted(self.deny_items), "max_per_category": self.max_per_category}
        )

    @cached_property
    def deny_array(self) -> NDArray[np.int64]:
        """The deny-list as a sorted array, made once per rules value (not once per pass)."""
        return np.fromiter(sorted(self.deny_items), dtype=np.int64, count=len(self.deny_items))

    def __getstate__(self) -> dict[str, Any]:
        return {"deny_items": self.deny_items, "max_per_category": self.max_per_category}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _is_item_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
