# The CPU image for the trainer and Triton (docker-compose.cpu.yml): the local route in a
# container. Python 3.11 with requirements/merlin.lock.txt installed exactly as `make setup`
# makes .venvs/merlin (pip 24.3.1, --no-deps). tritonserver is the nvidia-pytriton wheel's binary
# (python backend only), launched by the local route's launcher deploy/triton/launch.py: the
# `tritonserver` on PATH (deploy/docker/tritonserver) runs it in the foreground, so the compose
# file's `tritonserver --model-repository=...` is the same on both hosts.
# BASE_IMAGE: any Python 3.11 image with pip and a shared libpython (the python-backend stub
# needs it); deploy/docker/make-base-images.sh makes a stand-in where none can be pulled.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 \
    FEAST_USAGE=False \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /opt/recsys
COPY deploy/docker/pip-ca.sh deploy/docker/pip-install.sh /usr/local/lib/recsys/
COPY requirements/merlin.lock.txt requirements/merlin.lock.txt
# No `pip check`: the lock deliberately holds tritonclient 2.41 beside nvidia-pytriton (whose own
# dependencies are not needed for the binary), as in .venvs/merlin.
RUN --mount=type=secret,id=pip_ca sh /usr/local/lib/recsys/pip-install.sh requirements/merlin.lock.txt \
 && python -c "import faiss, feast, redis, tensorflow, nvtabular, merlin.systems.dag, tritonclient.grpc" \
 && python -c "import importlib.util as u, pathlib as p; b = p.Path(next(iter(u.find_spec('pytriton').submodule_search_locations))) / 'tritonserver/bin/tritonserver'; assert b.is_file(), b"

# The code the build runs (training/, services/ensemble, the Feast definitions) and the local
# route's Triton launcher and the rollout (`python -m deploy.rollout`, the compose rollout service).
COPY deploy/__init__.py deploy/settings_base.py deploy/
COPY deploy/triton deploy/triton
COPY deploy/rollout deploy/rollout
COPY deploy/docker/__init__.py deploy/docker/triton_foreground.py deploy/docker/
COPY deploy/docker/tritonserver /usr/local/bin/tritonserver
COPY services/__init__.py services/__init__.py
COPY services/ensemble services/ensemble
COPY training training
COPY feature_repo/feature_store.yaml feature_repo/features.py feature_repo/
# What a build depends on (code and installed packages): the trainer skips a build whose stamp
# matches this (docker-compose.yml).
RUN { find training services feature_repo -type f | LC_ALL=C sort | xargs sha256sum; \
      python -m pip list --format=freeze; } | sha256sum | cut -c1-64 > /opt/recsys/CODE_SHA

# Volumes (docker-compose.yml): the trainer builds into /data/artifacts/build and exports into
# /data/model_repository, which Triton serves.
RUN mkdir -p /data/artifacts /data/model_repository
CMD ["tritonserver", "--model-repository=/data/model_repository", "--model-control-mode=explicit", "--load-model=*"]
