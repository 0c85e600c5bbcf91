"""`python -m training rules set FILE | show | clear`: the business rules the served model applies
from its next pass on, kept in Redis at REDIS_URL (services/ensemble/live_rules.py). Without
rules in Redis the model applies the ones exported with it (`export --rules FILE`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from training.errors import BuildError

if TYPE_CHECKING:
    from services.ensemble.rules import Rules


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rules = commands.add_parser(
        "rules", help="business rules in Redis, applied by the served model without an export"
    )
    actions = rules.add_subparsers(dest="action", required=True)
    set_rules = actions.add_parser("set", help="check FILE and make it the served rules")
    set_rules.add_argument("file", type=Path, help="JSON: deny_items, max_per_category")
    actions.add_parser("show", help="print the rules Redis holds")
    actions.add_parser("clear", help="remove them: the exported rules apply again")


def run(args: argparse.Namespace) -> int:
    from services.ensemble import live_rules
    from services.ensemble.contract import RULES_KEY
    from services.ensemble.rules import Rules
    from training.settings import TrainingSettings

    rules = None
    if args.action == "set":
        try:
            rules = Rules.from_file(args.file)  # refused before Redis is touched
        except ValueError as exc:
            raise BuildError(str(exc)) from exc
    client = redis.Redis.from_url(TrainingSettings().redis_url, socket_timeout=5)
    try:
        if rules is not None:
            version = live_rules.write(client, rules)
            print(f"rules version {version} set: {rules.to_json()}")
        elif args.action == "show":
            print(_shown(live_rules.read(client)))
        else:
            client.delete(RULES_KEY)
            print("rules removed from Redis: the exported rules apply")
    except redis.RedisError as exc:  # its message names the server's address
        raise BuildError(f"Redis at REDIS_URL failed: {type(exc).__name__}") from exc
    except ValueError as exc:
        raise BuildError(f"the rules in Redis are not valid: {exc}") from exc
    return 0


def _shown(held: tuple[int, Rules] | None) -> str:
    if held is None:
        return "no rules in Redis: the exported rules apply"
    version, rules = held
    return f"rules version {version}: {rules.to_json()}"
