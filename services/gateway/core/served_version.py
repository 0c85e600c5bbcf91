"""The served model version: which version of the executor the gateway names in its requests.

The rollout writes it to Redis (SERVED_VERSION_KEY) once a new version passed its checks; every
gateway reads it every GATEWAY_SERVED_VERSION_REFRESH_S in the background, so all gateways follow
the same switch within that period. Unset: no version named, Triton's highest READY version
answers. Redis unreachable or a value that is not a version: the last known value stays (logged
once until a read succeeds again). An A/B split, when configured, wins over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger("services.gateway.served_version")

Reader = Callable[[], Awaitable[str | None]]
"""Reads the key's raw value (None: unset); raises when Redis cannot answer."""


def parse_version(text: str | None) -> int | None:
    """ "3" -> 3; None -> None (unset); ValueError unless a version >= 1."""
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{text!r} is not a model version")
    return int(text)


class ServedVersion:
    """The last version read from Redis (`current`), refreshed by a background task."""

    def __init__(self, read: Reader, period_s: float) -> None:
        self._read = read
        self._period_s = period_s
        self.current: int | None = None
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        """Read the key once; on failure keep the last known value."""
        try:
            version = parse_version(await self._read())
        except Exception as exc:  # Redis down or a bad value: keep serving the last one
            if not self._failing:
                self._failing = True
                logger.warning(
                    "cannot read the served model version (%s): keeping %s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    "the latest" if self.current is None else f"version {self.current}",
                )
            return
        if self._failing:
            self._failing = False
            logger.warning("the served model version is read again")
        if version != self.current:
            logger.info("served model version: %s", version or "Triton's latest")
            self.current = version

    async def start(self) -> None:
        """Read now, then every period in the background (needs the running event loop)."""
        await self.refresh()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._period_s)
            await self.refresh()
