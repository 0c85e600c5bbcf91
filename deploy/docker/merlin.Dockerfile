# syntax=docker/dockerfile:1
# One image for the trainer (`python -m training build` + `export`) and for Triton (serving the
# exported model repository): NVIDIA's Merlin TensorFlow image (Python 3.10, TensorFlow 2.12,
# NVTabular, merlin-systems, tritonserver with the python backend) plus what it lacks: Feast
# 0.31.1 with redis-py, and faiss. The pickled serving graph is thus built by the same Python
# and the same packages that serve it. See deploy/docker/README.md.
FROM nvcr.io/nvidia/merlin/merlin-tensorflow:23.08

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 \
    FEAST_USAGE=False \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/recsys
COPY requirements/merlin.lock.txt requirements/merlin.lock.txt

# How the lock constrains the install (the lock is a Python 3.11 freeze, the image is 3.10):
# * packages of the image's own compiled stack (OWNED below: numpy, pandas, pyarrow, dask,
#   TensorFlow, Merlin, tritonclient, ...) keep the image's versions: they are pinned to what
#   the image has, so the install can never replace them (pip fails instead);
# * everything else pip installs or changes gets the lock's pin (feast 0.31.1, faiss-cpu 1.7.4,
#   redis 4.2.2, pydantic 1.10.27, protobuf 4.25.9, grpcio 1.74.0, SQLAlchemy 1.4.54, ...),
#   except the few locked versions that have no Python 3.10 release (PY310 below);
# * `pip check` may report nothing that the image did not already report, and the packages
#   the build and the python backend import must import.
RUN <<'SH'
#!/usr/bin/env bash
set -euo pipefail
command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
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
SH

# The code the build runs (training/, services/ensemble, the Feast definitions). The serving
# side needs none of it: the exported executor_model/1/ carries its own copy of the code.
COPY services/__init__.py services/__init__.py
COPY services/ensemble services/ensemble
COPY training training
COPY feature_repo/feature_store.yaml feature_repo/features.py feature_repo/
# What a build depends on (code and installed packages): the trainer skips a build whose stamp
# matches this (docker-compose.yml).
RUN { find training services feature_repo -type f | LC_ALL=C sort | xargs sha256sum; \
      python -m pip list --format=freeze; } | sha256sum | cut -c1-64 > /opt/recsys/CODE_SHA

# Volumes (docker-compose.yml): the trainer builds into /data/artifacts/build (a folder inside
# the volume, so the build's atomic rename stays on one filesystem) and exports into
# /data/model_repository, which Triton serves.
RUN mkdir -p /data/artifacts /data/model_repository
CMD ["tritonserver", "--model-repository=/data/model_repository"]
