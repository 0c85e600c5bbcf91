"""Run a real Triton Inference Server for a model repository, on CPU, without Docker.

The ``tritonserver`` binary comes from the PyPI wheel ``nvidia-pytriton`` (python backend only).
See ``deploy/triton/README.md`` for how the local route works. This module is the command line;
the pieces live beside it (settings, environment, server, watchdog_process, stop).

    python -m deploy.triton.launch start --model-repository model_repository
    python -m deploy.triton.launch stop --pid-file /tmp/triton-0-8000/tritonserver.pid
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from deploy.triton.environment import find_tritonserver
from deploy.triton.errors import ConfigError, LaunchError, StartError, run_command
from deploy.triton.logs import summarize_log
from deploy.triton.procs import (
    group_members,
    is_tritonserver,
    process_alive,
    read_pid,
    terminate_group,
)
from deploy.triton.server import TritonServer
from deploy.triton.settings import TritonSettings, check_port, default_run_dir
from deploy.triton.stop import stop_server

__all__ = [  # the API other code imports from here
    "ConfigError",
    "LaunchError",
    "StartError",
    "TritonServer",
    "TritonSettings",
    "find_tritonserver",
    "group_members",
    "main",
    "process_alive",
    "stop_server",
    "summarize_log",
    "terminate_group",
]

DESCRIPTION = "Run a real Triton Inference Server for a model repository, without Docker."


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")
    return number


def _seconds(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"must be whole seconds >= 0, got {value!r}")
    return int(value)


def _port_arg(value: str) -> int:
    try:
        return check_port(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_start(commands: argparse._SubParsersAction[_Parser], settings: TritonSettings) -> None:
    start = commands.add_parser(
        "start",
        help="start tritonserver detached and wait until it is ready",
        description="Start tritonserver detached; extra tritonserver flags may follow '--'.",
    )
    start.add_argument("--model-repository", type=Path, required=True)
    start.add_argument("--host", default=settings.host, help="bind address (TRITON_HOST)")
    start.add_argument("--http-port", type=_port_arg, default=settings.http_port)
    start.add_argument("--grpc-port", type=_port_arg, default=settings.grpc_port)
    start.add_argument("--metrics-port", type=_port_arg, default=settings.metrics_port)
    start.add_argument(
        "--run-dir",
        type=Path,
        help="backends, log, PID file (default: $TMPDIR/triton-UID-HTTPPORT)",
    )
    start.add_argument("--log-file", type=Path, help="default: RUN_DIR/tritonserver.log")
    start.add_argument("--pid-file", type=Path, help="default: RUN_DIR/tritonserver.pid")
    start.add_argument(
        "--timeout", type=_positive, default=settings.ready_timeout_s, help="seconds to get ready"
    )
    start.add_argument(
        "--python-venv", type=Path, help="venv the python models run in (default: this Python's)"
    )
    start.add_argument(
        "--no-watchdog",
        action="store_true",
        help="do not reload a model whose python-backend process died",
    )
    start.add_argument(
        "--exit-timeout",
        type=_seconds,
        default=settings.exit_timeout_s,
        help=f"tritonserver's own shutdown wait, whole seconds (default {settings.exit_timeout_s})",
    )


def build_parser(settings: TritonSettings) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m deploy.triton.launch", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_start(commands, settings)
    stop = commands.add_parser("stop", help="stop the server recorded in a PID file")
    stop.add_argument(
        "--pid-file",
        type=Path,
        default=default_run_dir(settings.http_port) / "tritonserver.pid",
        help="default: the start command's default for TRITON_HTTP_PORT",
    )
    stop.add_argument(
        "--timeout", type=_positive, default=settings.stop_timeout_s, help="seconds before SIGKILL"
    )
    return parser


def start(args: argparse.Namespace, extra: list[str], settings: TritonSettings) -> int:
    run_dir = args.run_dir or default_run_dir(args.http_port)
    server = TritonServer(
        args.model_repository,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        settings=settings,
        run_dir=run_dir,
        log_file=args.log_file,
        pid_file=args.pid_file or run_dir / "tritonserver.pid",
        python_venv=args.python_venv,
        extra_args=extra,
        stop_at_exit=False,
        watchdog=not args.no_watchdog,
        exit_timeout_s=args.exit_timeout,
    )
    assert server.pid_file is not None
    old = read_pid(server.pid_file)
    if old is not None and process_alive(old) and is_tritonserver(old):
        raise ConfigError(f"tritonserver already running (pid {old}, {server.pid_file})")
    server.start(timeout=args.timeout)
    watchdog = server.watchdog_process.pid if server.watchdog_process else "off"
    print(
        f"ready: tritonserver pid {server.pid} in {server.startup_seconds:.1f} s, "
        f"http {server.http_url}, grpc {server.grpc_url}, metrics {server.metrics_url}; "
        f"log {server.log_file}; watchdog pid {watchdog}; "
        f"stop: python -m deploy.triton.launch stop --pid-file {server.pid_file}"
    )
    return 0


def run(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    settings = TritonSettings.from_env()
    args = build_parser(settings).parse_args(argv)
    if args.command == "start":
        return start(args, extra, settings)
    if extra:
        raise ConfigError("stop takes no extra tritonserver arguments")
    print(stop_server(args.pid_file.absolute(), timeout=args.timeout))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run_command(lambda: run(args), interrupted="interrupted; server stopped")


if __name__ == "__main__":
    sys.exit(main())
