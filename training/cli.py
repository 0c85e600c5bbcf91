"""Command line: `python -m training build --out DIR [--rows N] [--data DIR] [--seed S]`
`python -m training export --build DIR --out MODEL_REPOSITORY [--rules FILE]` and
`python -m training materialize --build DIR [--if-needed]` (online state into REDIS_URL) and
`python -m training evaluate --build DIR [--data DIR]` (the build's evaluation table) and
`python -m training rules set FILE | show | clear` (business rules in Redis, no export needed) and
`python -m training convert-ratings --ratings FILE --out DIR` (a rating log as build data) and
`python -m training generate --out DIR [--synthetic KIND]` (synthetic build data with a future) and
`python -m training export-online --out DIR [--data DIR]` (what was added online, for a rebuild).

Bad input ends with exit status 2 and one line `error: ...`; an unexpected failure with
status 1, one line, and the traceback in `<out>.error.log`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

from training.build import manifest
from training.build.distributed import check_scheduler
from training.data import raw_data
from training.errors import BuildError
from training.ops import online_export, rules_command


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build every artifact into --out")
    build.add_argument("--out", type=Path, required=True, help="build directory to (re)place")
    build.add_argument("--rows", type=int, default=100_000, help="synthetic rows (default 100000)")
    build.add_argument("--data", type=Path, help="read DIR/train/*.parquet and DIR/valid/*.parquet")
    build.add_argument(
        "--synthetic",
        choices=("planted", "longtail", "ratings", "merlin"),
        default="planted",
        help="synthetic data: planted signal (default), longtail (another world: hidden "
        "factors, exposure bias, long tail), ratings (a consumption log: each item chosen "
        "once, a click when liked) or Merlin's signal-free generator",
    )
    build.add_argument("--seed", type=int, default=42)
    build.add_argument(
        "--dask-workers",
        type=int,
        default=0,
        help="run the NVTabular fit/transform on a local Dask cluster of N worker processes",
    )
    build.add_argument(
        "--dask-scheduler",
        help="run the NVTabular fit/transform on an existing Dask scheduler (tcp://host:8786)",
    )
    export = commands.add_parser("export", help="export a build as a Triton model repository")
    export.add_argument("--build", type=Path, required=True, help="a complete build directory")
    export.add_argument("--out", type=Path, required=True, help="the model repository to write")
    export.add_argument(
        "--candidates", type=int, help="retrieved per user (default: RECSYS_CANDIDATES, 100)"
    )
    export.add_argument("--topk", type=int, help="items returned per user (RECSYS_TOPK, 10)")
    export.add_argument(
        "--temperature",
        type=float,
        help="0: order by score (default: RECSYS_TEMPERATURE, 0); >0: softmax(score / T) sampling",
    )
    export.add_argument(
        "--instances", type=int, help="executor instances (default: RECSYS_INSTANCES, 1)"
    )
    export.add_argument(
        "--rules", type=Path, help="JSON business rules: deny_items, max_per_category"
    )
    online = commands.add_parser(
        "materialize", help="write a build's online state into Redis at REDIS_URL"
    )
    online.add_argument("--build", type=Path, required=True, help="a complete build directory")
    online.add_argument(
        "--if-needed", action="store_true", help="skip if Redis already holds this build's state"
    )
    evaluation = commands.add_parser(
        "evaluate", help="print a build's evaluation table (models beside baselines)"
    )
    evaluation.add_argument("--build", type=Path, required=True, help="a complete build directory")
    evaluation.add_argument(
        "--data", type=Path, help="the build's data, if not synthetic (DIR/train, DIR/valid)"
    )
    rules_command.add_parser(commands)
    online_export.add_parser(commands)
    ratings = commands.add_parser(
        "convert-ratings",
        help="a rating log (user, item, rating, time) as DIR/train, DIR/valid, DIR/future.parquet",
    )
    ratings.add_argument("--ratings", type=Path, required=True, help="a CSV or parquet file")
    ratings.add_argument("--out", type=Path, required=True, help="the data directory to write")
    ratings.add_argument("--like", type=float, default=4.0, help="a click: rating >= LIKE (4)")
    for name, default in (("user", "userId"), ("item", "movieId"), ("rating", "rating")):
        ratings.add_argument(f"--{name}-column", default=default, help=f"default {default}")
    ratings.add_argument("--time-column", default="timestamp", help="default timestamp")
    generated = commands.add_parser(
        "generate",
        help="synthetic data as DIR/train, DIR/valid and a held-back DIR/future.parquet",
    )
    generated.add_argument("--out", type=Path, required=True, help="the data directory to write")
    generated.add_argument(
        "--synthetic", choices=("planted", "longtail", "ratings"), default="planted"
    )
    generated.add_argument("--rows", type=int, default=100_000, help="rows (default 100000)")
    generated.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = {
        "build": _build,
        "export": _export,
        "materialize": _materialize,
        "evaluate": _evaluate,
        "rules": rules_command.run,
        "convert-ratings": _convert_ratings,
        "generate": _generate,
        "export-online": online_export.run,
    }[args.command]
    try:
        return command(args)
    except BuildError as exc:
        return _fail(str(exc), 2)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # one line for the user, the traceback in a log
        target: Path | None = getattr(args, "out", None) or getattr(args, "build", None)
        if target is None:  # `rules`: no build folder to hold a log
            return _fail(f"{type(exc).__name__}: {exc}".splitlines()[0], 1)
        log_path = target.with_name(f"{target.name}.error.log")
        log_path.write_text(traceback.format_exc())
        return _fail(f"{type(exc).__name__}: {exc} (traceback in {log_path})".splitlines()[0], 1)


def _build(args: argparse.Namespace) -> int:
    if args.rows <= 0:
        raise BuildError(f"--rows must be a positive number, got {args.rows}")
    if args.dask_workers < 0:
        raise BuildError(f"--dask-workers must be >= 0, got {args.dask_workers}")
    if args.seed < 0:
        raise BuildError(f"--seed must be >= 0, got {args.seed}")
    if args.dask_scheduler:
        check_scheduler(args.dask_scheduler)
    # Check the input before importing TensorFlow: bad input fails in about a second.
    manifest.check_replaceable(args.out)
    raw = raw_data.load(args.data) if args.data is not None else None
    _quiet_libraries()
    from training.build.distributed import DaskConfig
    from training.build.pipeline import BuildConfig, run
    from training.settings import TrainingSettings

    config = BuildConfig(
        out=args.out.resolve(),
        redis_url=TrainingSettings().redis_url,
        rows=args.rows,
        data_dir=args.data,
        synthetic=args.synthetic,
        seed=args.seed,
        dask=DaskConfig(workers=args.dask_workers, scheduler=args.dask_scheduler),
    )
    run(config, raw)
    print(args.out)
    return 0


def _export(args: argparse.Namespace) -> int:
    for name in ("candidates", "topk", "instances"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            raise BuildError(f"--{name} must be a positive number, got {getattr(args, name)}")
    if args.temperature is not None and args.temperature < 0:
        raise BuildError(f"--temperature must be >= 0, got {args.temperature}")
    if not manifest.is_build(args.build):
        raise BuildError(f"--build {args.build}: no complete build there (no manifest.json)")
    _quiet_libraries()
    from training.build.export import export_repository

    model_dir = export_repository(
        args.build.resolve(),
        args.out.resolve(),
        args.candidates,
        args.topk,
        args.temperature,
        args.instances,
        args.rules,
    )
    print(model_dir)
    return 0


def _materialize(args: argparse.Namespace) -> int:
    if not manifest.is_build(args.build):
        raise BuildError(f"--build {args.build}: no complete build there (no manifest.json)")
    build_id = manifest.build_id(args.build)
    from training.build.feature_store import missing_online_state
    from training.settings import TrainingSettings

    redis_url = TrainingSettings().redis_url
    if args.if_needed:
        missing = missing_online_state(args.build.resolve(), redis_url, build_id)
        if missing is None:
            print(f"online state of {args.build} already in Redis")
            return 0
        print(f"{missing}: materializing")
    _quiet_libraries()
    from training.build.materialize import materialize

    result = materialize(args.build.resolve(), redis_url, build_id)
    print(
        f"materialized {result['keys_written']} feature keys, "
        f"{result['interactions']['users']} users' interactions"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if not manifest.is_build(args.build):
        raise BuildError(f"--build {args.build}: no complete build there (no manifest.json)")
    if args.data is not None:
        raw_data.load(args.data)  # bad data fails here, before TensorFlow is imported
    _quiet_libraries()
    from training.evaluation import evaluate
    from training.evaluation.evaluate_build import run

    print(evaluate.format_table(run(args.build.resolve(), args.data)))
    return 0


def _convert_ratings(args: argparse.Namespace) -> int:
    from training.data import ratings_log

    columns = ratings_log.RatingColumns(
        args.user_column, args.item_column, args.rating_column, args.time_column
    )
    counts = ratings_log.convert(ratings_log.read(args.ratings, columns), args.out, args.like)
    print(f"{args.out}: {counts}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise BuildError(f"--seed must be >= 0, got {args.seed}")
    from training.data import held_back

    made = raw_data.generate(args.synthetic, args.rows, args.seed)
    valid, future = held_back.cut_future(made.valid)
    print(f"{args.out}: {held_back.write(args.out, made.train, valid, future)}")
    return 0


def _quiet_libraries() -> None:
    """Keep TensorFlow's, Merlin's and Feast's import-time chatter off the user's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("FEAST_USAGE", "False")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _fail(message: str, status: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status
