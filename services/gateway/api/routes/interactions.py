"""POST /interactions: record that a user interacted with an item, effective at once."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from services.gateway.api.deps import InteractionsDep, SettingsDep
from services.gateway.core.interactions import InteractionStoreUnavailable
from services.gateway.schemas import Interaction, InteractionRecorded, Problem

router = APIRouter()


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionRecorded,
    responses={
        422: {"description": "body invalid"},
        503: {"model": Problem, "description": "Redis unreachable; see Retry-After"},
    },
)
async def record_interaction(
    interaction: Interaction, store: InteractionsDep, settings: SettingsDep
) -> InteractionRecorded:
    """The item is excluded from the user's next recommendations, without a rebuild."""
    try:
        new = await store.record(interaction.user_id, interaction.item_id)
    except InteractionStoreUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            str(exc),
            headers={"Retry-After": str(settings.retry_after_s)},
        ) from exc
    return InteractionRecorded(user_id=interaction.user_id, item_id=interaction.item_id, new=new)
