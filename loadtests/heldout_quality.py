"""The list users get, measured through the running gateway on clicks the build never saw.

For every user with a click in `--future` (default DATA/future.parquet, as `python -m training
convert-ratings` writes it) on an item they had not clicked in DATA/train and DATA/valid, it
asks `GET /recommend?user_id=&k=10` and reports recall@10, NDCG@10 and hit@10 beside two
baselines computed here from the same history: the most clicked items the user has not
clicked, and EASE (Steck 2019, lambda 200, dense, on the train and valid clicks). Any answer
other than 200 counts as an error and is reported.

    .venvs/merlin/bin/python -m loadtests.heldout_quality --data DIR [--gateway URL]
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import requests

K = 10
EASE_L2 = 200.0


def read_split(path: Path) -> pd.DataFrame:
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise SystemExit(f"error: no parquet files at {path}")
    return pd.concat([pd.read_parquet(f, columns=["user_id", "item_id", "click"]) for f in files])


def targets_of(history: pd.DataFrame, future: pd.DataFrame) -> dict[int, set[int]]:
    """user -> their future clicks on items they had not clicked in `history`."""
    had = history[history["click"] == 1].groupby("user_id")["item_id"].apply(set)
    wanted = future[future["click"] == 1].groupby("user_id")["item_id"].apply(set)
    out = {int(u): items - had.get(u, set()) for u, items in wanted.items()}
    return {user: items for user, items in out.items() if items}


def measure(lists: dict[int, list[int]], targets: dict[int, set[int]]) -> dict[str, float]:
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    recall, ndcg, hit = [], [], []
    for user, wanted in targets.items():
        gains = np.array([item in wanted for item in lists.get(user, [])[:K]], dtype=float)
        recall.append(gains.sum() / min(len(wanted), K))
        hit.append(float(gains.any()))
        ndcg.append(
            (gains * discounts[: len(gains)]).sum() / discounts[: min(len(wanted), K)].sum()
        )
    return {
        "recall_at_10": float(np.mean(recall)),
        "ndcg_at_10": float(np.mean(ndcg)),
        "hit_at_10": float(np.mean(hit)),
    }


def most_clicked(history: pd.DataFrame, users: list[int]) -> dict[int, list[int]]:
    clicks = history[history["click"] == 1]
    ranked = clicks.groupby("item_id").size().sort_values(ascending=False).index.to_numpy()
    had = clicks.groupby("user_id")["item_id"].apply(set)
    return {
        u: [int(i) for i in ranked[: K + len(had.get(u, ()))] if i not in had.get(u, ())][:K]
        for u in users
    }


def ease(history: pd.DataFrame, users: list[int]) -> dict[int, list[int]]:
    clicks = history[history["click"] == 1][["user_id", "item_id"]].drop_duplicates()
    items, cols = np.unique(clicks["item_id"].to_numpy(), return_inverse=True)
    people, rows = np.unique(clicks["user_id"].to_numpy(), return_inverse=True)
    x = np.zeros((len(people), len(items)))
    x[rows, cols] = 1.0
    gram = x.T @ x + EASE_L2 * np.eye(len(items))
    inverse = np.linalg.inv(gram)
    b = -inverse / np.diag(inverse)
    np.fill_diagonal(b, 0.0)
    row_of = {int(u): r for r, u in enumerate(people)}
    out = {}
    for user in users:
        if user not in row_of:
            continue
        scores = x[row_of[user]] @ b
        scores[x[row_of[user]] > 0] = -np.inf
        out[user] = [int(items[i]) for i in np.argsort(-scores)[:K]]
    return out


def served(gateway: str, users: list[int], workers: int) -> tuple[dict[int, list[int]], int]:
    session = requests.Session()

    def ask(user: int) -> tuple[int, list[int] | None]:
        response = session.get(f"{gateway}/recommend", params={"user_id": user, "k": K}, timeout=30)
        if response.status_code != 200:
            return user, None
        return user, [int(entry["item_id"]) for entry in response.json()["items"]]

    with ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(ask, users))
    lists = {user: items for user, items in answers if items is not None}
    return lists, len(users) - len(lists)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.heldout_quality", description=__doc__
    )
    parser.add_argument("--data", type=Path, required=True, help="DIR/train, DIR/valid (history)")
    parser.add_argument("--future", type=Path, help="default DATA/future.parquet")
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args(argv)
    history = pd.concat([read_split(args.data / "train"), read_split(args.data / "valid")])
    targets = targets_of(history, read_split(args.future or args.data / "future.parquet"))
    users = sorted(targets)
    lists, errors = served(args.gateway, users, args.workers)
    figures: dict[str, Any] = {
        "users": len(users),
        "errors": errors,
        "served": measure(lists, targets),
        "most_clicked": measure(most_clicked(history, users), targets),
        "ease": measure(ease(history, users), targets),
    }
    for name in ("served", "most_clicked", "ease"):
        values = figures[name]
        print(
            f"{name:<13} recall@10 {values['recall_at_10']:.4f}  NDCG@10 "
            f"{values['ndcg_at_10']:.4f}  hit@10 {values['hit_at_10']:.4f}"
        )
    print(f"{len(users)} users, {errors} errors")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
