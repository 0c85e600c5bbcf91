"""Addresses and probes: is a port taken, is the server ready, where does a client connect."""

from __future__ import annotations

import http.client
import socket

from deploy.triton.errors import ConfigError

HEALTH_PATH = "/v2/health/ready"


def port_in_use(host: str, port: int) -> bool:
    """True if ``host:port`` cannot be bound because something else holds it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if isinstance(exc, socket.gaierror) or exc.errno != 98:  # EADDRINUSE
                raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
            return True
    return False


def is_ready(host: str, port: int, timeout: float = 1.0) -> bool:
    """``GET /v2/health/ready`` answers 200 (no proxies involved)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", HEALTH_PATH)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def url_host(host: str) -> str:
    """The address a client connects to: wildcard binds are reached over loopback."""
    connect = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"[{connect}]" if ":" in connect else connect
