# One image for the trainer (`python -m training build` + `export`) and for Triton (serving the
# exported model repository): NVIDIA's Merlin TensorFlow image (Python 3.10, TensorFlow 2.12,
# NVTabular, merlin-systems, tritonserver with the python backend) plus what it lacks: Feast
# 0.31.1 with redis-py, and faiss. The pickled serving graph is thus built by the same Python
# and the same packages that serve it. See deploy/docker/README.md.
# BASE_IMAGE: NVIDIA's image by default; another tag of it can be given as a build argument.
ARG BASE_IMAGE=nvcr.io/nvidia/merlin/merlin-tensorflow:23.08
FROM ${BASE_IMAGE}

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
COPY deploy/docker/pip-ca.sh /usr/local/lib/recsys/
COPY deploy/docker/merlin-gpu-install.sh /usr/local/lib/recsys/
RUN --mount=type=secret,id=pip_ca bash /usr/local/lib/recsys/merlin-gpu-install.sh

# The code the build runs (training/, services/ensemble, the Feast definitions) and the rollout
# (`python -m deploy.rollout`, the compose rollout service; it uses deploy/triton's repository
# API client). The serving side needs none of it: each exported version folder carries its own
# copy of the code.
COPY deploy/__init__.py deploy/settings_base.py deploy/
COPY deploy/triton deploy/triton
COPY deploy/rollout deploy/rollout
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
CMD ["tritonserver", "--model-repository=/data/model_repository", "--model-control-mode=explicit", "--load-model=*"]
