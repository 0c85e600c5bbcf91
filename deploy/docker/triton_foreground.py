"""``tritonserver`` in the CPU image: the local route's launcher, kept in the foreground.

The CPU image has no Triton install of its own, only the ``nvidia-pytriton`` wheel's binary, which
``deploy.triton.launch.TritonServer`` knows how to start (private backend directory with the
python-backend stub, ``LD_LIBRARY_PATH``, ``PATH``). This module takes the flags the compose file
gives ``tritonserver`` (``--model-repository=DIR``, optional ``--http-port=N`` ...), binds every
interface (inside the container), copies the server's log to stdout (``docker compose logs``),
stops the server on SIGTERM/SIGINT and exits with the server's exit code.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from deploy.triton.launch import LaunchError, TritonServer

RUN_DIR = Path("/tmp/triton")
READY_TIMEOUT_S = 900.0


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="tritonserver", allow_abbrev=False)
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    return parser.parse_known_args(list(argv))


def follow(log: Path, stop: threading.Event) -> None:
    """Copy ``log`` to stdout as it grows (the launcher writes the server's output there)."""
    while not log.exists() and not stop.is_set():
        time.sleep(0.1)
    with log.open("rb") as handle:
        while True:
            chunk = handle.read(65536)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
            elif stop.is_set():
                return
            else:
                time.sleep(0.2)


def _terminate(signum: int, _frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parse(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    log = RUN_DIR / "tritonserver.log"
    log.unlink(missing_ok=True)
    server = TritonServer(
        args.model_repository,
        host="0.0.0.0",
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        run_dir=RUN_DIR,
        log_file=log,
        extra_args=extra,
        stop_at_exit=False,
    )
    stop = threading.Event()
    copier = threading.Thread(target=follow, args=(log, stop), daemon=True)
    copier.start()
    try:
        server.start(timeout=READY_TIMEOUT_S)
        print(f"ready: tritonserver pid {server.pid} in {server.startup_seconds:.1f} s", flush=True)
        assert server.process is not None
        return server.process.wait()
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    finally:
        print(f"tritonserver: {server.stop()}", flush=True)
        stop.set()
        copier.join(timeout=2.0)


if __name__ == "__main__":
    sys.exit(main())
