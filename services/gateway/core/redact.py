"""URLs made fit to print or log: any password replaced by ***.

Standard library only: `deploy.stack` (the Merlin environment) prints Redis URLs through it."""

from __future__ import annotations

import re

MASK = "***"
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
