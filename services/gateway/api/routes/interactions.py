"""POST /interactions: record that a user interacted with an item, effective at once; with the
answer's request_id, the click is attributed to what that answer showed."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, status

from services.gateway.api.deps import (
    AttributionStoreDep,
    ImpressionLogDep,
    OnlineStoreDep,
    SettingsDep,
    limit_write_rate,
    require_api_key,
)
from services.gateway.api.errors import BODY_ERRORS, Problem, error_responses
from services.gateway.core.attribution import attribute_click
from services.gateway.core.config import Settings
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.schemas import ClickAttribution, Interaction, InteractionRecorded

router = APIRouter()


@router.post(
    "/interactions",
    status_code=status.HTTP_201_CREATED,
    response_model=InteractionRecorded,
    response_model_exclude_none=True,  # request_id and attribution only when sent
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
    interaction: Interaction,
    store: OnlineStoreDep,
    settings: SettingsDep,
    impressions: ImpressionLogDep,
    attribution_store: AttributionStoreDep,
) -> InteractionRecorded:
    """The item is excluded from the user's next recommendations, without a rebuild; no build,
    materialize or rollout deletes it. With `request_id`, the click is counted for the arm and
    model version of that answer (once per answer and item), or as unattributed."""
    attribution = None
    try:
        new = await store.record_interaction(interaction.user_id, interaction.item_id)
        if interaction.request_id is not None:
            click = await attribute_click(
                impressions,
                attribution_store,
                settings.attribution_ttl_s,
                interaction.request_id,
                interaction.user_id,
                interaction.item_id,
            )
            attribution = ClickAttribution.model_validate(asdict(click))
    except OnlineStoreUnavailable as exc:
        raise unavailable(settings, exc) from exc
    return InteractionRecorded(**interaction.model_dump(), new=new, attribution=attribution)


def unavailable(
    settings: Settings, exc: OnlineStoreUnavailable, store: str = "interaction store"
) -> Problem:
    """503 with Retry-After when Redis fails; `store` names what is unavailable."""
    return Problem(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{store} unavailable; retry after {settings.retry_after_s} s",
        internal=str(exc),
        retry_after_s=settings.retry_after_s,
    )
