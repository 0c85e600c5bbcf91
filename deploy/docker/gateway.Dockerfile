# The HTTP gateway (services/gateway): its own small image, from the same lock file as the local
# .venvs/gateway (a complete Python 3.11 freeze, installed with pip 24.3.1 and --no-deps).
FROM python:3.11-slim

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements/gateway.lock.txt requirements/gateway.lock.txt
RUN python -m pip install pip==24.3.1 \
 && python -m pip install --no-deps -r requirements/gateway.lock.txt \
 && python -m pip check

# Only the gateway's code: it knows Triton's contract and nothing about the models.
COPY services/__init__.py services/__init__.py
COPY services/gateway services/gateway

RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin gateway
USER gateway

# Inside the container the gateway must listen on every interface; docker-compose.yml publishes
# the port on the host's loopback only (BIND_ADDRESS).
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080
CMD ["python", "-m", "services.gateway"]
