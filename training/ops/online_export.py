"""`python -m training export-online --out DIR [--data DIR]`: what was added online, as files
the next build reads, so a rebuild learns from it.

Redis at REDIS_URL holds what the gateway wrote at run time: items and users with their raw
attributes (contract.ONLINE_ITEMS_KEY, ONLINE_USERS_KEY) and each user's clicks
(`online_interactions_key`). This writes them to `DIR/online/{items,users,clicks}.parquet`.
With `--data PREV` (the data the served build was made from, in the raw schema) it also
writes `DIR/train` and `DIR/valid` as PREV's, with `DIR/train/online_clicks.parquet`
beside them: one clicked row per online click whose user and item attributes are known (from
PREV's rows, else from the online records), so `make build DATA=DIR` trains on them.

Nothing is deleted from Redis: the items and users stay served by every model version
(each encodes their raw attributes with its own workflow), the clicks stay filtered.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from services.ensemble.contract import (
    ITEM_FEATURES,
    ONLINE_INTERACTIONS_PREFIX,
    ONLINE_ITEMS_KEY,
    ONLINE_USERS_KEY,
    USER_FEATURES,
)
from training.data.raw_data import validate
from training.errors import BuildError

SCAN_BATCH = 1_000


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = commands.add_parser(
        "export-online",
        help="the items, users and clicks added online, as files the next build reads",
    )
    export.add_argument("--out", type=Path, required=True, help="the data directory to write")
    export.add_argument(
        "--data", type=Path, help="the served build's data: copied, online clicks added to train"
    )


def run(args: argparse.Namespace) -> int:
    import redis

    from training.data import raw_data
    from training.settings import TrainingSettings

    previous = raw_data.load(args.data) if args.data is not None else None  # checked first
    if args.out.exists() and any(args.out.iterdir()):
        raise BuildError(f"--out {args.out} exists and is not empty")
    client = redis.Redis.from_url(TrainingSettings().redis_url, socket_timeout=10)
    try:
        online = read_online(client)
    except redis.RedisError as exc:  # its message names the server's address
        raise BuildError(f"Redis at REDIS_URL failed: {type(exc).__name__}") from exc
    write_online(args.out / "online", online)
    summary = f"{len(online['items'])} items, {len(online['users'])} users, "
    summary += f"{len(online['clicks'])} clicks"
    if previous is not None:
        rows = click_rows(online, pd.concat([previous.train, previous.valid]))
        copy_splits(args.data, args.out)
        rows.to_parquet(args.out / "train" / "online_clicks.parquet", index=False)
        summary += f"; {len(rows)} clicks added to train"
    print(f"{args.out}: {summary}")
    return 0


def read_online(client: Any) -> dict[str, pd.DataFrame]:
    """The online items, users and clicks Redis holds, as frames."""
    items = records_frame(client.hgetall(ONLINE_ITEMS_KEY), "item_id", ITEM_FEATURES)
    users = records_frame(client.hgetall(ONLINE_USERS_KEY), "user_id", USER_FEATURES)
    pairs = []
    for key in client.scan_iter(match=f"{ONLINE_INTERACTIONS_PREFIX}*", count=SCAN_BATCH):
        user = int(key.decode().rsplit(":", 1)[-1].strip("{}"))
        pairs += [(user, int(item)) for item in client.smembers(key)]
    clicks = pd.DataFrame(pairs, columns=["user_id", "item_id"], dtype="int64")
    return {"items": items, "users": users, "clicks": clicks.sort_values(["user_id", "item_id"])}


def records_frame(records: dict[bytes, bytes], key: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """One row per readable record: its id, its attributes (missing ones: no row), `retired`."""
    from services.ensemble.online_items import parse_record, record_attributes

    rows = []
    for raw_id, raw in records.items():
        record = parse_record(raw)
        attributes = record_attributes(record, columns)
        if record is not None and attributes is not None:
            retired = bool(record.get("retired", False))
            rows.append({key: int(raw_id), **attributes, "retired": retired})
    frame = pd.DataFrame(rows, columns=[key, *columns, "retired"])
    return frame.astype({key: "int32", **dict.fromkeys(columns, "int32"), "retired": bool})


def write_online(folder: Path, online: dict[str, pd.DataFrame]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in online.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)


def click_rows(online: dict[str, pd.DataFrame], previous: pd.DataFrame) -> pd.DataFrame:
    """A clicked row in the raw schema per online click whose user and item attributes are
    known: the latest ones of PREV's rows, else the online record's (the online record wins
    for an item changed online). Retired items' clicks are kept (they happened)."""
    users = latest("user_id", USER_FEATURES, previous, online["users"])
    items = latest("item_id", ITEM_FEATURES, previous, online["items"])
    rows = online["clicks"].merge(users, on="user_id").merge(items, on="item_id")
    rows["click"] = 1
    if rows.empty:
        return rows
    return validate(rows, "online clicks")  # the raw schema's columns and dtypes


def latest(
    key: str, columns: tuple[str, ...], previous: pd.DataFrame, online: pd.DataFrame
) -> pd.DataFrame:
    known = previous[[key, *columns]].drop_duplicates(key, keep="last")
    both = pd.concat([known, online[[key, *columns]]])  # online last: it wins
    return both.drop_duplicates(key, keep="last").astype("int64")


def copy_splits(source: Path, out: Path) -> None:
    for split in ("train", "valid"):
        shutil.copytree(source / split, out / split)
