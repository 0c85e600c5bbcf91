# Locust load test of the gateway (loadtests/locustfile.py), from the same lock file as the local
# load-test environment (a complete Python 3.11 freeze, installed with pip 24.3.1 and --no-deps).
# BASE_IMAGE: as in gateway.Dockerfile.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY deploy/docker/pip-ca.sh deploy/docker/pip-install.sh /usr/local/lib/recsys/
COPY requirements/loadtest.lock.txt requirements/py311-backports.lock.txt requirements/
RUN --mount=type=secret,id=pip_ca sh /usr/local/lib/recsys/pip-install.sh --check \
    requirements/loadtest.lock.txt requirements/py311-backports.lock.txt

# The load-test package only (the locustfile and its helpers).
COPY loadtests loadtests

# /results: the volume Locust writes its CSV stats and per-request records to.
RUN useradd --system --uid 10002 --user-group --no-create-home --shell /usr/sbin/nologin locust \
 && mkdir -p /results \
 && chown locust:locust /results
USER locust
CMD ["locust", "-f", "loadtests/locustfile.py", "--help"]
