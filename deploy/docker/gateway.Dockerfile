# The HTTP gateway (services/gateway): its own small image, from the same lock file as the local
# .venvs/gateway (a complete Python 3.11 freeze, installed with pip 24.3.1 and --no-deps).
# BASE_IMAGE: any Python 3.11 image with pip; deploy/docker/make-base-images.sh makes a stand-in
# from Debian's packages where python:3.11-slim cannot be pulled.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY deploy/docker/pip-ca.sh deploy/docker/pip-install.sh /usr/local/lib/recsys/
COPY requirements/gateway.lock.txt requirements/py311-backports.lock.txt requirements/
# pip-install.sh: pip==24.3.1, then `pip install --no-deps -r requirements/gateway.lock.txt`
# and `pip check`, trusting the optional pip_ca build secret.
RUN --mount=type=secret,id=pip_ca sh /usr/local/lib/recsys/pip-install.sh --check \
    requirements/gateway.lock.txt requirements/py311-backports.lock.txt

# Only the gateway's code and the serving contract it shares with the executor (names, Redis
# keys, the Redis URL forms; standard library only): it knows nothing about the models.
COPY services/__init__.py services/__init__.py
COPY services/ensemble/__init__.py services/ensemble/contract.py services/ensemble/redis_url.py services/ensemble/
COPY services/gateway services/gateway

RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gateway
USER gateway

# Inside the container the gateway must listen on every interface; docker-compose.yml publishes
# the port on the host's loopback only (BIND_ADDRESS).
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]
