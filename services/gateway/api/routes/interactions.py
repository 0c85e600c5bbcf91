"""POST /interactions: record that a user interacted with an item, effective at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from services.gateway.api.deps import (
    OnlineStoreDep,
    SettingsDep,
    limit_write_rate,
    require_api_key,
)
from services.gateway.api.errors import BODY_ERRORS, Problem, error_responses
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.schemas import Interaction, InteractionRecorded

router = APIRouter()


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionRecorded,
    # the rate limit first: guessing the key costs tokens too
    dependencies=[Depends(limit_write_rate), Depends(require_api_key)],
    responses=error_responses(
        {
            **BODY_ERRORS,
            401: "API key missing or wrong (when GATEWAY_API_KEY is set)",
            422: "body invalid",
            429: "this address sent writes faster than GATEWAY_WRITE_RATE_PER_S; see Retry-After",
            503: "Redis unreachable; see Retry-After",
        }
    ),
)
async def record_interaction(
    interaction: Interaction, store: OnlineStoreDep, settings: SettingsDep
) -> InteractionRecorded:
    """The item is excluded from the user's next recommendations, without a rebuild; no build,
    materialize or rollout deletes it."""
    try:
        new = await store.record_interaction(interaction.user_id, interaction.item_id)
    except OnlineStoreUnavailable as exc:
        raise Problem(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"interaction store unavailable; retry after {settings.retry_after_s} s",
            internal=str(exc),
            retry_after_s=settings.retry_after_s,
        ) from exc
    return InteractionRecorded(user_id=interaction.user_id, item_id=interaction.item_id, new=new)
