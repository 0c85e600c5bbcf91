#!/usr/bin/env bash
# The GPU image's install step (merlin.Dockerfile, run in /opt/recsys): what NVIDIA's Merlin image
# lacks (feast[redis], faiss-cpu, redis, hiredis), constrained by the Merlin lock file as
# described in merlin.Dockerfile. The optional pip_ca build secret is trusted (pip-ca.sh).
set -euo pipefail
command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
. /usr/local/lib/recsys/pip-ca.sh
python -m pip install pip==24.3.1
python -m pip list --format=freeze > /tmp/image.freeze.txt
{ python -m pip check || true; } > /tmp/pip-check.image.txt
python - <<'PY'
import re
import sys
from pathlib import Path

from pip._vendor.packaging.version import InvalidVersion, Version

OWNED = re.compile(
    r"numpy|pandas|pyarrow|scipy|numba|llvmlite|cupy.*|cudf.*|dask.*|distributed|rmm.*"
    r"|tensorflow.*|keras|tf-keras|horovod|merlin-.*|nvtabular|transformers4rec|tritonclient"
    r"|treelite.*|cuda-python|pynvml"
)
# Locked versions with no Python 3.10 release, and 3.10-only backports the 3.11 lock lacks:
# the newest 3.10 releases, as pip 24.3.1 resolves feast[redis]+faiss-cpu+redis+hiredis under
# the lock on CPython 3.10.13 (see deploy/docker/README.md).
PY310 = {
    "fastavro": "1.12.2",
    "importlib-metadata": "9.0.1",
    "python-dateutil": "3.0.0",
    "websockets": "16.1.1",
    "rpds-py": "0.30.0",
    "exceptiongroup": "1.2.2",
    "tomli": "2.5.0",
}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


image = {}
for line in Path("/tmp/image.freeze.txt").read_text().splitlines():
    name, sep, version = line.partition("==")
    if sep:
        image.setdefault(canon(name), version)
pins = {}
for line in Path("requirements/merlin.lock.txt").read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        name, _, version = line.partition("==")
        pins[canon(name)] = version
if sys.version_info[:2] == (3, 10):
    pins.update(PY310)
for name, version in image.items():
    if OWNED.fullmatch(name):
        try:
            Version(version)
        except InvalidVersion:  # not pinnable: pip would reject the constraints file
            print(f"note: {name}=={version} is not a PEP 440 version, left unpinned")
            pins.pop(name, None)
            continue
        pins[name] = version
Path("/tmp/constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
PY
python -m pip install -c /tmp/constraints.txt "feast[redis]" faiss-cpu redis hiredis
python -m pip list --format=freeze > /tmp/after.freeze.txt
{ grep -vxF -f /tmp/image.freeze.txt /tmp/after.freeze.txt || true; } > /opt/recsys/pip-added.txt
{ python -m pip check || true; } > /tmp/pip-check.after.txt
if grep -vxF -f /tmp/pip-check.image.txt /tmp/pip-check.after.txt \
    | grep -v '^No broken requirements found.$'; then
  echo "error: the install broke the requirements above" >&2
  exit 1
fi
python -c "import faiss, feast, hiredis, redis; from feast import FeatureStore"
python -c "import tensorflow, tensorflow_metadata, tritonclient.grpc, merlin.systems.dag"
rm -f /tmp/*.freeze.txt /tmp/pip-check.*.txt /tmp/constraints.txt
pip_ca_cleanup
