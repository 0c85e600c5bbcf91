"""The whole stack on one machine: `python -m deploy.stack run|stop` (what `make run|stop` call).

`run` brings up whatever is missing, in order, and is quick when everything is there:
  1. a build (`python -m training build`, synthetic data unless DATA is set) and its export
     (build.py);
  2. Redis: REDIS_URL if given, else a private `redis-server` on RECSYS_REDIS_PORT (6390), with
     an append-only file under RUN_DIR/redis, so its state survives a restart (redis_server.py);
  3. the build's online state in that Redis (skipped when Redis already holds it: the build
     marker and every feature key and interaction set of the build are there) (online_state.py);
  4. Triton serving the model repository, then the gateway; each waits until ready (services.py).
The private redis-server and tritonserver each run under a supervisor that restarts them after
a crash, with bounded back-off (supervisor.py, supervised.py, restart_policy.py; the launcher's
side: supervision.py). A live gateway is kept, never doubled; a started one is recorded only once
ready. It ends with a real request and prints the `curl` to try. `stop` stops only what `run`
started, by the PID files in RUN_DIR, the supervisors first. `triton` starts Triton alone
(`make triton`), on REDIS_URL or the Redis `run` started, never on a default address
(orchestrate.py). Settings: settings.py.
"""

from deploy.stack.cli import main
from deploy.stack.online_state import ensure_online_state
from deploy.stack.orchestrate import run, serve_triton, stop
from deploy.stack.redis_server import ensure_redis, running_redis_url
from deploy.stack.services import ensure_gateway, ensure_triton
from deploy.stack.settings import StackError, StackSettings
from deploy.triton.procs import read_pid

__all__ = [
    "StackError",
    "StackSettings",
    "ensure_gateway",
    "ensure_online_state",
    "ensure_redis",
    "ensure_triton",
    "main",
    "read_pid",
    "running_redis_url",
    "run",
    "serve_triton",
    "stop",
]
