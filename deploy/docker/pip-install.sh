#!/bin/sh
# pip-install.sh [--check] LOCK...: install lock files exactly as `make setup` makes .venvs/*:
# pip 24.3.1, then the complete pinned freezes with --no-deps (no resolver walk), optionally
# `pip check`. Run by the Dockerfiles with the optional pip_ca build secret mounted.
set -eu
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
. /usr/local/lib/recsys/pip-ca.sh
python -m pip install pip==24.3.1
for lock in "$@"; do set -- "$@" -r "$lock"; shift; done
python -m pip install --no-deps "$@"
if [ "$check" = 1 ]; then python -m pip check; fi
pip_ca_cleanup
