"""POST /interactions: record that a user interacted with an item, effective at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status

from services.gateway.api.deps import OnlineStoreDep, SettingsDep, require_api_key
from services.gateway.api.errors import Problem
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.schemas import Interaction, InteractionRecorded, ProblemBody

router = APIRouter()


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionRecorded,
    dependencies=[Depends(require_api_key)],
    responses={
        401: {"model": ProblemBody, "description": "API key missing or wrong (when configured)"},
        413: {"model": ProblemBody, "description": "body larger than GATEWAY_MAX_BODY_BYTES"},
        422: {"description": "body invalid"},
        503: {"model": ProblemBody, "description": "Redis unreachable; see Retry-After"},
    },
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
