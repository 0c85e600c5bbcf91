"""End-to-end check of the compose stack on a real Docker engine (``make compose-test``).

Runs the CPU variant (docker-compose.yml + docker-compose.cpu.yml) under its own project name
and free host ports, so a stack the user runs is never touched:

1. a Docker engine: the running one, or Debian's ``docker.io`` installed and ``dockerd`` started
   (and stopped again at the end, by its PID);
2. base images: the official ones when present, else local stand-ins (make-base-images.sh);
3. build, ``up --wait``: every long-running service healthy, the trainer exited 0;
4. real requests: /recommend for a known user (10 distinct catalogue ids, fallback false) and an
   unknown one (fallback true); POST /interactions, then that item gone from the next answer;
   Triton in explicit mode: the repository index lists executor_model READY, a load of the
   unchanged model answers 200 and it still serves; ``run rollout rollback`` (profile tools)
   reaches Triton and exits 1 with its one-line error (only one version);
5. the Locust profile for 15 s through the gateway: 0 failures, its CSV copied to the host;
6. ``restart triton`` and ``restart redis``: answers come back, the recorded interaction is still
   excluded, no image was rebuilt;
7. ``down -v``: none of the project's containers, networks or volumes is left.

Prints one line per check (PASS/FAIL and seconds) and a summary. Exit 0 when every check
passed, 1 when one failed, 2 when the environment is missing something it cannot install.

    make compose-test   # --compose: the compose wheel's Go binary (its bin/ wrapper exits 0)
    python -m tests.e2e.compose_check --help   # from the repository root: standard library only

Modules: common (the context, running commands), engine (Docker, base images, ports),
gateway (HTTP), stack_checks and request_checks (the checks), runner (their order, main).
"""
