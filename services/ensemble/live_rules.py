"""The business rules a pass applies: the exported ones, until Redis holds others.

Rules written to Redis (contract.RULES_KEY: a hash with the JSON document in `rules` and a
counter in `version`, written by `python -m training rules set FILE`) apply from the next pass
on, without an export. Each pass costs one HGET of the counter, sent in FetchPastItems' pipeline
when the graph has that stage (no round trip of its own); the document is read and parsed only
when the counter changed. A value that is not valid rules is refused with one log line and
the last good rules stay; deleting the key (`rules clear`) returns to the exported rules.

The stages keep reading `rules.deny_items` / `rules.max_per_category`: `attach` gives every stage
that holds the exported `Rules` one shared `LiveRules`, refreshed by the executor once per pass
(so all stages of a pass see the same rules).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import redis
from numpy.typing import NDArray

from services.ensemble.contract import RULES_KEY
from services.ensemble.redis_store import unavailable_on_redis_errors
from services.ensemble.rules import Rules

VERSION_FIELD, RULES_FIELD = "version", "rules"


def log_line(line: str) -> None:
    """One line in Triton's log, as the model's own (model_template/model.py)."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    print(f"{stamp} executor_model: {line}", file=sys.stderr, flush=True)


class LiveRules:
    def __init__(self, exported: Rules, client: Any, log: Callable[[str], None] = log_line) -> None:
        self.exported = exported
        self.current = exported
        self._client = client
        self._log = log
        self._seen: bytes | None = None
        """The counter (or refusal) last acted on: a change of it is read and logged once."""
        self.retired: frozenset[int] = frozenset()
        """Items retired at run time (online_items.py): denied beside the rules' own."""
        self._effective = exported
        """`current` with the retired items denied too."""

    @property
    def deny_items(self) -> frozenset[int]:
        return self._effective.deny_items

    @property
    def max_per_category(self) -> int:
        return self._effective.max_per_category

    @property
    def deny_array(self) -> NDArray[np.int64]:
        return self._effective.deny_array

    def set_retired(self, items: frozenset[int]) -> None:
        """Deny `items` (retired at run time) from now on, whatever rules apply."""
        if items != self.retired:
            self.retired = items
            self._combine()

    def _combine(self) -> None:
        current = self.current
        self._effective = (
            Rules(current.deny_items | self.retired, current.max_per_category)
            if self.retired
            else current
        )

    def refresh(self) -> None:
        """Apply Redis' rules if they changed since the last pass (one HGET when they did not).
        OnlineStoreUnavailable if Redis cannot answer."""
        version: bytes | None | redis.ResponseError
        with unavailable_on_redis_errors():
            try:
                version = self._client.hget(RULES_KEY, VERSION_FIELD)
            except redis.ResponseError as exc:  # e.g. a plain string SET by hand (WRONGTYPE)
                version = exc
        self.follow(version)

    @staticmethod
    def read_version(pipe: Any) -> None:
        """Queue the counter's HGET on a stage's pipeline (FetchPastItems' round trip): hand
        its reply, error included (`execute(raise_on_error=False)`), to `follow`."""
        pipe.hget(RULES_KEY, VERSION_FIELD)

    def follow(self, version: bytes | None | redis.ResponseError) -> None:
        """Apply the rules of counter value `version` unless it is the one last acted on (the
        document is read and parsed only then); a ResponseError reply (not a hash) is refused.
        OnlineStoreUnavailable if Redis cannot answer."""
        if isinstance(version, redis.ResponseError):
            self._refuse(b"unreadable", f"not a hash ({version})")
            return
        if version == self._seen:
            return
        if version is None:
            self._apply(None, self.exported, "no rules in Redis: the exported rules apply")
            return
        with unavailable_on_redis_errors():
            try:
                held, text = self._client.hmget(RULES_KEY, VERSION_FIELD, RULES_FIELD)
            except redis.ResponseError as exc:
                self._refuse(b"unreadable", f"not a hash ({exc})")
                return
        try:
            rules = Rules.from_json(text or b"", f"rules version {_text(held)}")
        except ValueError as exc:
            self._refuse(held, str(exc))
            return
        self._apply(held, rules, f"rules version {_text(held)} applied: {_describe(rules)}")

    def _apply(self, version: bytes | None, rules: Rules, message: str) -> None:
        self.current, self._seen = rules, version
        self._combine()
        self._log(message)

    def _refuse(self, version: bytes | None, reason: str) -> None:
        if version != self._seen:
            self._log(f"rules in Redis refused, keeping the last good ones: {reason}")
        self._seen = version


def attach(stages: Iterable[Any], client: Any) -> LiveRules | None:
    """Give every stage holding a `Rules` (the export's) one shared LiveRules over them; None if
    no stage has rules."""
    holders = [stage for stage in stages if isinstance(getattr(stage, "rules", None), Rules)]
    if not holders:
        return None
    live = LiveRules(holders[0].rules, client)
    for stage in holders:
        stage.rules = live
    return live


def _text(value: bytes | None) -> str:
    return value.decode(errors="replace") if value is not None else "?"


def _describe(rules: Rules) -> str:
    cap = rules.max_per_category or "no"
    return f"{len(rules.deny_items)} denied items, {cap} cap per category"


def write(client: Any, rules: Rules) -> int:
    """Store `rules` under RULES_KEY and raise its version counter, in one transaction; the new
    version."""
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(RULES_KEY, RULES_FIELD, rules.to_json())
        pipe.hincrby(RULES_KEY, VERSION_FIELD, 1)
        _, version = pipe.execute()
    return int(version)


def read(client: Any) -> tuple[int, Rules] | None:
    """(version, rules) held in Redis; None if it holds none. ValueError if the value is not
    valid rules."""
    try:
        version, text = client.hmget(RULES_KEY, VERSION_FIELD, RULES_FIELD)
    except redis.ResponseError as exc:
        raise ValueError(f"{RULES_KEY} is not a hash ({exc})") from exc
    if version is None and text is None:
        return None
    return int(version or 0), Rules.from_json(text or b"", f"rules version {_text(version)}")
