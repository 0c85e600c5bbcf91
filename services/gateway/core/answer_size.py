"""k's maximum: the served model's answer size, read from Triton, against GATEWAY_MAX_K.

The export writes k, the width of every answer, into the model's config (ordered_ids and
ordered_scores have dims [k]; services/ensemble/repository.py); the gateway reads it through
Triton's model config (`get_model_config`) on every replica it can reach:

- GATEWAY_MAX_K unset: the model's k is the gateway's (k's range in /recommend and its schema,
  CTR@k's default).
- GATEWAY_MAX_K set and equal to it: fine; different: the start is refused with one line,
  `AnswerSizeMismatch` (`python -m services.gateway` prints `error: ...` and exits 2), as is a
  start against replicas that serve different k.
- No replica answers within GATEWAY_REQUEST_TIMEOUT_S (Triton still starting, or down), or the
  model's config does not say (an export from before k was written, dims [-1]): the gateway
  starts anyway, on GATEWAY_MAX_K or, unset, DEFAULT_MAX_K, and says so in one log line, as it
  starts without Triton today (/readyz says why it is not ready). Once a replica's model is
  ready, /readyz checks its k on every call: a model whose k differs from the gateway's keeps
  the gateway not ready (`triton: the model answers k=5, the gateway serves k up to 10 ...`)
  until it is restarted (or the model is), so a wrong k range never serves unnoticed, and a
  gateway that merely started first does not crash-loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from services.ensemble.contract import OUTPUTS
from services.gateway.core.config import DEFAULT_MAX_K, Settings

logger = logging.getLogger("services.gateway.answer_size")


class AnswerSizeMismatch(Exception):
    """GATEWAY_MAX_K and the served model's k differ (or the replicas' k do): no start."""


class ConfigSource(Protocol):
    """What is read of a replica: tritonclient.grpc.aio's client has these two calls."""

    async def is_model_ready(self, model_name: str, client_timeout: float | None = ...) -> bool: ...

    async def get_model_config(
        self, model_name: str, client_timeout: float | None = ...
    ) -> Any: ...

    async def close(self) -> None: ...


def answer_size_of(config: Any) -> int | None:
    """k from a model config (tritonclient's ModelConfig message): the dims of ordered_ids,
    [k] (the batch dimension is implicit); None when not fixed ([-1]: an older export)."""
    for output in config.output:
        if output.name == OUTPUTS[0]:
            dims = list(output.dims)
            return int(dims[0]) if len(dims) == 1 and dims[0] > 0 else None
    return None


def mismatch(configured: int, served: int, model_name: str) -> str:
    return (
        f"GATEWAY_MAX_K={configured}, but the served model {model_name} answers k={served} "
        f"items: set GATEWAY_MAX_K={served} or leave it unset"
    )


def resolve_max_k(configured: int | None, served: Sequence[int], model_name: str) -> int:
    """The gateway's k maximum: GATEWAY_MAX_K (`configured`) or the model's (`served`: the k
    of each replica that said); AnswerSizeMismatch when they differ."""
    known = sorted(set(served))
    if len(known) > 1:
        raise AnswerSizeMismatch(
            f"the Triton replicas serve {model_name} with different k: {known}"
        )
    if not known:
        return configured if configured is not None else DEFAULT_MAX_K
    if configured is not None and configured != known[0]:
        raise AnswerSizeMismatch(mismatch(configured, known[0], model_name))
    return known[0]


async def read_answer_size(client: ConfigSource, model_name: str, timeout_s: float) -> int | None:
    """One replica's k; None when it does not say within timeout_s (unreachable, the model not
    ready, or a config without k)."""
    try:
        async with asyncio.timeout(timeout_s):
            if not await client.is_model_ready(model_name, client_timeout=timeout_s):
                return None
            response = await client.get_model_config(model_name, client_timeout=timeout_s)
    except Exception as exc:
        logger.info("the model's k is not known yet: %s", exc or type(exc).__name__)
        return None
    return answer_size_of(response.config)


async def with_served_answer_size(
    settings: Settings, clients: Sequence[ConfigSource] | None = None
) -> Settings:
    """`settings` with max_k set to the k in use (see the module's doc); AnswerSizeMismatch
    when GATEWAY_MAX_K and the served model's k differ. `clients`: one per replica (default:
    a gRPC client per GATEWAY_TRITON_URL address, closed after)."""
    own = clients is None
    if clients is None:
        import tritonclient.grpc.aio as grpcclient

        clients = [grpcclient.InferenceServerClient(url) for url in settings.triton_urls]
    try:
        found = await asyncio.gather(
            *(
                read_answer_size(client, settings.model_name, settings.request_timeout_s)
                for client in clients
            )
        )
    finally:
        if own:
            await asyncio.gather(*(client.close() for client in clients))
    served = [k for k in found if k is not None]
    max_k = resolve_max_k(settings.max_k, served, settings.model_name)
    if not served:
        logger.warning(
            "no Triton replica said its model's k: k up to %d (%s) until one does; /readyz "
            "then checks it",
            max_k,
            "GATEWAY_MAX_K" if settings.max_k is not None else "the default",
        )
    return settings.model_copy(update={"max_k": max_k})
