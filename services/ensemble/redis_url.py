"""Where Redis is: one URL names either a single server or a Redis Cluster.

* single server: `redis://[[user]:password@]host[:port][/db]`, `rediss://` (TLS), `unix://`:
  redis-py's own URL forms, unchanged;
* Redis Cluster: `redis+cluster://[[user]:password@]host:port[,host:port...]` (`rediss+cluster://`
  for TLS): any reachable nodes of the cluster (the client discovers the rest), database 0 only.

Standard library only: the gateway's image holds this module beside `contract.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
"""Scheme -> TLS."""
DEFAULT_PORT = 6379


@dataclass(frozen=True)
class ClusterTarget:
    nodes: tuple[tuple[str, int], ...]
    """(host, port) of the startup nodes, in the URL's order."""
    username: str | None
    password: str | None
    tls: bool


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def parse_cluster(url: str) -> ClusterTarget:
    """The cluster URL's parts; ValueError (without the password) when it is malformed."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError("a Redis Cluster URL starts with redis+cluster:// or rediss+cluster://")
    if "?" in rest or "#" in rest:
        raise ValueError("a Redis Cluster URL takes no query or fragment")
    location, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise ValueError("a Redis Cluster has database 0 only (no /db other than /0)")
    userinfo, at, hosts = location.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    nodes = tuple(_node(part.strip()) for part in hosts.split(","))
    return ClusterTarget(nodes, username, password, CLUSTER_SCHEMES[scheme.lower()])


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if colon and password else None)


def _node(address: str) -> tuple[str, int]:
    if not address:
        raise ValueError("an empty node in the Redis Cluster URL (host:port, comma-separated)")
    if address.startswith("["):  # [IPv6]:port
        host, _, port = address[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    if not host:
        raise ValueError(f"a node without a host in the Redis Cluster URL: {address!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"a node with a bad port in the Redis Cluster URL: {address!r}")
    return host, int(port) if port else DEFAULT_PORT


def check_url(url: str) -> str:
    """`url` if it names a single Redis or a well-formed cluster, else ValueError."""
    if is_cluster(url):
        parse_cluster(url)
        return url
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            "must start with redis://, rediss://, unix:// or, for a Redis Cluster, "
            f"redis+cluster:// or rediss+cluster://; got {scheme!r}"
        )
    return url


MASK = "***"
"""What a printed or logged URL shows in place of a password."""
PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)
MASKED_PARAMETER = rf"\g<1>{MASK}"


def redacted_url(url: str) -> str:
    """`url` with the password of its user info (`user:password@`, `:password@`) and of a
    `password=` query parameter (redis-py reads both) replaced by ***. User info without a
    colon is masked whole: clients differ on whether it is a user name or a password."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    # the last @, even past a ? or /: an unencoded one in a password must not leave part of it
    # in sight (masking too much beats showing some)
    userinfo, at, location = rest.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}:{MASK}@{location}" if colon else f"{MASK}@{location}"
    return f"{scheme}{separator}{PASSWORD_PARAMETER.sub(MASKED_PARAMETER, rest)}"
